"""Bank details for refunds by transfer: ISO 13616 IBAN and ISO 9362 BIC checks, masking.

The checks are schwifty's: each country's IBAN length and BBAN structure from the SWIFT
registry, the mod-97 checksum, and a BIC's structure and country.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from service.domain.errors import DomainError


class BankDetailsRequired(DomainError):
    code = "BANK_DETAILS_REQUIRED"


class InvalidBankDetails(DomainError):
    code = "INVALID_BANK_DETAILS"


@dataclass(frozen=True, slots=True)
class BankAccount:
    account_owner: str
    iban: str
    bic: str

    @property
    def masked_iban(self) -> str:
        return mask_iban(self.iban)


def mask_iban(iban: str) -> str:
    """Country and last four characters only: DE…3000."""
    return f"{iban[:2]}…{iban[-4:]}"


def check_bank_account(account_owner: str | None, iban: str | None, bic: str | None) -> BankAccount:
    """A transfer needs an owner, a valid IBAN and a valid BIC. Errors never echo the values."""
    missing = [name for name, value in
               (("account_owner", account_owner), ("iban", iban), ("bic", bic)) if not value]
    if missing:
        raise BankDetailsRequired(
            "a refund by bank transfer needs account_owner, iban and bic", missing=missing
        )
    assert account_owner and iban and bic
    compact = re.sub(r"\s+", "", iban).upper()
    if not check_iban(compact):
        raise InvalidBankDetails("the IBAN fails the ISO 13616 check", field="iban")
    code = bic.strip().upper()
    if not check_bic(code):
        raise InvalidBankDetails(
            "the BIC is not ISO 9362 (8 or 11 characters, a known country)", field="bic"
        )
    return BankAccount(account_owner.strip(), compact, code)


def check_iban(iban: str) -> bool:
    """The country's length and BBAN structure, and the mod-97 checksum of ISO 13616."""
    try:
        IBAN(iban, validate_bban=True)
    except SchwiftyException:
        return False
    return True


def check_bic(bic: str) -> bool:
    try:
        BIC(bic)
    except SchwiftyException:
        return False
    return True


def refund_needs_transfer(payment_method: str | None, unable: frozenset[str]) -> bool:
    return (payment_method or "").strip().lower() in unable
