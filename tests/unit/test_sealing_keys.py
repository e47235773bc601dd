"""BANK_DETAILS_KEY with several keys: the first seals, every one opens, rotation re-seals."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from service.adapters.sealing import Sealer, SealingKeyError


def test_the_first_key_seals_and_every_key_opens():
    # given a value sealed under the old key alone
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_before = Sealer(old).seal("NL91ABNA0417164300")
    # when the key list puts a new key first, the old one after it
    both = Sealer(f"{new}, {old}")
    # then the old value still opens, and new values are sealed with the new key
    assert both.open(sealed_before) == "NL91ABNA0417164300"
    sealed_now = both.seal("DE89370400440532013000")
    assert Sealer(new).open(sealed_now) == "DE89370400440532013000"
    with pytest.raises(SealingKeyError):
        Sealer(old).open(sealed_now)


def test_rotation_re_seals_with_the_first_key_and_says_what_is_current():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = Sealer(old).seal("secret")
    sealer = Sealer(f"{new},{old}")
    assert not sealer.is_current(sealed)
    rotated = sealer.rotate(sealed)
    assert sealer.is_current(rotated)
    assert Sealer(new).open(rotated) == "secret"


def test_a_value_no_key_opens_cannot_be_rotated():
    stranger = Sealer(Fernet.generate_key().decode()).seal("secret")
    with pytest.raises(SealingKeyError):
        Sealer(Fernet.generate_key().decode()).rotate(stranger)


@pytest.mark.parametrize("key", ["", " , ", "not-a-key", f"{Fernet.generate_key().decode()},bad"])
def test_a_bad_key_list_is_refused(key):
    with pytest.raises(SealingKeyError):
        Sealer(key)
