"""Bearer tokens: the tokens file, and JWTs signed with a shared secret or a key pair."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.adapters.auth import (
    AuthConfigError,
    Authenticator,
    Identity,
    JwtRules,
    Unauthenticated,
    add_token,
    load_tokens,
)


def claims(**extra):
    return {"sub": "ana", "team_role": "lead", "exp": int(time.time()) + 60, **extra}


def public_pem(private) -> str:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_jwt_signed_with_a_private_key_is_verified_with_the_public_key(algorithm):
    # given a key pair and a verifier that knows only the public half
    private = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
               if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1()))
    verifier = Authenticator({}, JwtRules(public_pem(private), (algorithm,), "team_role"))
    # when a token signed with the private key is presented
    token = jwt.encode(claims(), private, algorithm=algorithm)
    # then the caller is the subject, with the role from the configured claim
    assert verifier.identify(f"Bearer {token}") == Identity("ana", "lead")


def test_a_token_signed_with_another_algorithm_is_refused():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = Authenticator({}, JwtRules(public_pem(private), ("RS256",), "team_role"))
    forged = jwt.encode(claims(), "x" * 40, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        verifier.identify(f"Bearer {forged}")


def test_a_jwt_without_expiry_is_refused():
    verifier = Authenticator({}, JwtRules("s" * 40, ("HS256",), "team_role"))
    token = jwt.encode({"sub": "ana", "team_role": "lead"}, "s" * 40, algorithm="HS256")
    with pytest.raises(Unauthenticated, match="exp"):
        verifier.identify(f"Bearer {token}")


def test_tokens_added_to_the_file_identify_their_holder(tmp_path):
    path = tmp_path / "tokens.toml"
    agent = add_token(path, "agent-42", "agent")
    lead = add_token(path, "lead-7", "lead")
    verifier = Authenticator(load_tokens(path), None)
    assert verifier.identify(f"Bearer {agent}") == Identity("agent-42", "agent")
    assert verifier.identify(f"bearer {lead}") == Identity("lead-7", "lead")
    with pytest.raises(Unauthenticated):
        verifier.identify("Bearer something-else")


def test_a_tokens_file_with_a_bad_key_names_it(tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text('[tokens."t1"]\nuser = "ana"\nrol = "agent"\n')
    with pytest.raises(AuthConfigError, match=r"tokens\.t1\.rol"):
        load_tokens(path)


def test_no_way_to_authenticate_is_a_configuration_error():
    with pytest.raises(AuthConfigError, match="AUTH_TOKENS_FILE"):
        Authenticator({}, None)
