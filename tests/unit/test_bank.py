"""ISO 13616 IBANs and ISO 9362 BICs, and masking for anything shown or logged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.bank import (
    BankDetailsRequired,
    InvalidBankDetails,
    check_bank_account,
    check_iban,
    mask_iban,
    refund_needs_transfer,
)

VALID = ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606",
         "NL91ABNA0417164300", "BE68539007547034", "NO9386011117947"]


@pytest.mark.parametrize("iban", VALID)
def test_registry_examples_are_valid(iban):
    assert check_iban(iban)


@given(st.sampled_from(VALID), st.data())
def test_any_single_character_changed_fails_the_checksum(iban, data):
    position = data.draw(st.integers(min_value=2, max_value=len(iban) - 1))
    alphabet = "0123456789" if iban[position].isdigit() else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != iban[position]]))
    assert not check_iban(iban[:position] + replacement + iban[position + 1:])


def test_an_account_is_normalised_and_masked():
    account = check_bank_account(" Ana ", "de89 3704 0044 0532 0130 00", "cobadeffxxx")
    assert (account.account_owner, account.iban, account.bic) == (
        "Ana", "DE89370400440532013000", "COBADEFFXXX")
    assert account.masked_iban == mask_iban(account.iban) == "DE…3000"


def test_missing_and_invalid_details_name_the_field_not_the_value():
    with pytest.raises(BankDetailsRequired) as missing:
        check_bank_account("Ana", None, "")
    assert missing.value.details == {"missing": ["iban", "bic"]}
    with pytest.raises(InvalidBankDetails) as bad:
        check_bank_account("Ana", "DE89370400440532013001", "COBADEFF")
    assert bad.value.details == {"field": "iban"}
    with pytest.raises(InvalidBankDetails) as bad_bic:
        check_bank_account("Ana", "DE89370400440532013000", "COBA-DE")
    assert bad_bic.value.details == {"field": "bic"}


def test_payment_methods_that_cannot_refund():
    assert refund_needs_transfer("COD", frozenset({"cod"}))
    assert not refund_needs_transfer("credit_card", frozenset({"cod"}))
    assert not refund_needs_transfer(None, frozenset({"cod"}))


def test_an_iban_whose_bank_code_breaks_the_countrys_structure_is_refused():
    # a valid checksum over letters where Germany has digits
    assert not check_iban("DE92ABCDEFGH0532013000")


def test_a_bic_of_no_country_is_refused():
    with pytest.raises(InvalidBankDetails) as bad_bic:
        check_bank_account("Ana", "DE89370400440532013000", "ZZZZZZ2A")
    assert bad_bic.value.details == {"field": "bic"}
