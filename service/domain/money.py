"""Money in integer minor units, with ISO 4217 exponents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from service.domain.errors import DomainError

# ISO 4217 active codes whose minor unit is not 2.
_EXPONENT_EXCEPTIONS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}

_TWO_DECIMAL_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP
BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD
FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD
KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD
NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP
SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED
VES WST XCD XCG YER ZAR ZMW ZWG
""".split()

#: An amount on our own API: digits, optionally a point and digits; no sign, no exponent.
PLAIN_AMOUNT = re.compile(r"(?P<whole>[0-9]{1,15})(?:\.(?P<fraction>[0-9]+))?", re.ASCII)
MAX_INTEGER_DIGITS = 15

CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMAL_CODES, 2),
    **_EXPONENT_EXCEPTIONS,
}


class UnknownCurrency(DomainError):
    code = "UNKNOWN_CURRENCY"

    def __init__(self, currency: str | None) -> None:
        super().__init__(f"unknown ISO 4217 currency {currency!r}", currency=currency)


class CurrencyPrecision(DomainError):
    code = "CURRENCY_PRECISION"

    def __init__(self, amount: str, currency: str, exponent: int) -> None:
        super().__init__(
            f"{amount} has more decimals than {currency} allows ({exponent})",
            amount=amount,
            currency=currency,
            exponent=exponent,
        )


class InvalidAmount(DomainError):
    code = "INVALID_AMOUNT"

    def __init__(self, amount: object, why: str) -> None:
        super().__init__(f"invalid amount {amount!r}: {why}", amount=str(amount))


#: The smallest unit of each exponent ISO 4217 uses: 1, 0.1, 0.01, 0.001, 0.0001.
_QUANTA = {exponent: Decimal(1).scaleb(-exponent) for exponent in range(10)}


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int

    @classmethod
    def of(cls, code: str | None) -> Currency:
        normalized = (code or "").strip().upper()
        if normalized not in CURRENCY_EXPONENTS:
            raise UnknownCurrency(code)
        return cls(normalized, CURRENCY_EXPONENTS[normalized])

    @property
    def quantum(self) -> Decimal:
        return _QUANTA[self.exponent]

    def to_minor(self, amount: Decimal) -> int:
        """Round an OMS amount to this currency (half up) and return minor units."""
        if not amount.is_finite():
            raise InvalidAmount(amount, "not a finite number")
        exponent = self.exponent
        # the rounding passed by position: Decimal's keyword parsing costs more than the rounding
        return int(amount.quantize(_QUANTA[exponent], ROUND_HALF_UP).scaleb(exponent))

    def parse_exact(self, text: str) -> int:
        """Parse an amount given on our own API: a plain decimal string ("5.90"), at most
        15 integer digits and at most `exponent` decimals, trailing zeros included."""
        match = PLAIN_AMOUNT.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidAmount(
                text, f"write a plain decimal: digits, a point, at most {MAX_INTEGER_DIGITS} "
                "integer digits, no sign and no exponent"
            )
        fraction = match["fraction"] or ""
        if len(fraction) > self.exponent:
            raise CurrencyPrecision(text, self.code, self.exponent)
        return int(match["whole"]) * 10**self.exponent + int(fraction.ljust(self.exponent, "0") or 0)

    def to_major(self, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-self.exponent).quantize(self.quantum)

    def format(self, minor: int) -> str:
        """Render minor units as the decimal string published on the wire ("5.90")."""
        return str(Decimal(minor).scaleb(-self.exponent).quantize(self.quantum))
