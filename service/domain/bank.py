"""Bank details for refunds by transfer: ISO 13616 IBAN and ISO 9362 BIC checks, masking."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.domain.errors import DomainError

#: IBAN length by country (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


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
    if not _BIC.match(code):
        raise InvalidBankDetails("the BIC is not ISO 9362 (8 or 11 characters)", field="bic")
    return BankAccount(account_owner.strip(), compact, code)


def check_iban(iban: str) -> bool:
    """Country length and the mod-97 checksum of ISO 13616."""
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", iban):
        return False
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    return int(digits) % 97 == 1


def refund_needs_transfer(payment_method: str | None, unable: frozenset[str]) -> bool:
    return (payment_method or "").strip().lower() in unable
