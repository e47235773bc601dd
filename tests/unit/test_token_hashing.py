"""The tokens file keeps hashes of tokens; entries written before hashing still work."""

from __future__ import annotations

import hashlib

import pytest

from service.adapters.auth import (
    Authenticator,
    Identity,
    Unauthenticated,
    add_token,
    hash_tokens_file,
    is_hashed,
    load_tokens,
    token_hash,
)


def test_a_new_token_is_kept_as_its_sha256_hash_only(tmp_path):
    # given a tokens file
    path = tmp_path / "tokens.toml"
    # when a token is added
    token = add_token(path, "ana", "lead")
    # then the file holds its SHA-256 hash, never the token, and the hash lets its holder in
    text = path.read_text()
    assert token not in text
    assert f"sha256:{hashlib.sha256(token.encode()).hexdigest()}" in text
    assert path.stat().st_mode & 0o777 == 0o600
    verifier = Authenticator(load_tokens(path), None)
    assert verifier.identify(f"Bearer {token}") == Identity("ana", "lead")
    with pytest.raises(Unauthenticated):
        verifier.identify(f"Bearer {token_hash(token)}")


def test_plaintext_entries_of_an_older_file_are_still_accepted(tmp_path):
    # given a file written before hashing, beside a hashed entry
    path = tmp_path / "tokens.toml"
    path.write_text('[tokens."old-plain-token"]\nuser = "bo"\nrole = "agent"\n')
    hashed = add_token(path, "ana", "lead")
    # when both are presented
    verifier = Authenticator(load_tokens(path), None)
    # then both identify their holders
    assert verifier.identify("Bearer old-plain-token") == Identity("bo", "agent")
    assert verifier.identify(f"Bearer {hashed}") == Identity("ana", "lead")


def test_hashing_the_file_rewrites_plaintext_entries_and_keeps_every_holder(tmp_path):
    # given a file with two plaintext entries (one with a quote in its user) and a hashed one
    path = tmp_path / "tokens.toml"
    path.write_text('[tokens."plain-1"]\nuser = "bo"\nrole = "agent"\n'
                    '[tokens."plain-2"]\nuser = "o\\"neil"\nrole = "lead"\n')
    kept = add_token(path, "ana", "manager")
    # when the file is hashed, twice
    first = hash_tokens_file(path)
    second = hash_tokens_file(path)
    # then the plaintext entries became hashes, the second run found nothing to do
    assert first == (2, 1)
    assert second == (0, 3)
    entries = load_tokens(path)
    assert all(is_hashed(entry) for entry in entries)
    assert "plain-1" not in path.read_text()
    # and every token still identifies its holder
    verifier = Authenticator(entries, None)
    assert verifier.identify("Bearer plain-1") == Identity("bo", "agent")
    assert verifier.identify("Bearer plain-2") == Identity('o"neil', "lead")
    assert verifier.identify(f"Bearer {kept}") == Identity("ana", "manager")
    assert path.stat().st_mode & 0o777 == 0o600


def test_demo_tokens_may_be_kept_in_plaintext(tmp_path):
    path = tmp_path / "tokens.toml"
    token = add_token(path, "agent-42", "agent", hashed=False)
    assert load_tokens(path) == {token: Identity("agent-42", "agent")}


def test_a_token_listed_both_plain_and_hashed_is_kept_once(tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text(f'[tokens."plain-1"]\nuser = "bo"\nrole = "agent"\n'
                    f'[tokens."{token_hash("plain-1")}"]\nuser = "bo"\nrole = "agent"\n')
    hash_tokens_file(path)
    assert load_tokens(path) == {token_hash("plain-1"): Identity("bo", "agent")}
