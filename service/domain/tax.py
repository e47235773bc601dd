"""Tax inside appeasement pieces, rounded cumulatively per line so errors never add up."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def tax_in_gross(gross: int, rate: Decimal) -> int:
    """Tax inside a VAT-inclusive amount: round(gross x rate / (100 + rate))."""
    if not rate:
        return 0
    return _round(Decimal(gross) * rate / (Decimal(100) + rate))


def cumulative_gross_tax(
    already_gross: int, already_tax: int, piece_gross: int, rate: Decimal, tax_paid: int
) -> int:
    """Tax of a new gross piece on a line that already had `already_gross` credited.

    The tax of the running total is rounded once and capped at what was paid, so the
    tax credited on a line over many appeasements never exceeds the tax paid on it.
    """
    target = min(tax_in_gross(already_gross + piece_gross, rate), tax_paid)
    return max(0, min(piece_gross, target - already_tax))


def pro_rata_tax(net_piece: int, net_paid: int, tax_paid: int) -> int:
    """Under net taxation: the tax paid on a bucket, credited in proportion of net."""
    if net_paid <= 0:
        return 0
    return min(_round(Decimal(net_piece) * tax_paid / net_paid), tax_paid)


def cumulative_pro_rata_tax(
    already_net: int, already_tax: int, net_piece: int, net_paid: int, tax_paid: int
) -> int:
    target = min(pro_rata_tax(already_net + net_piece, net_paid, tax_paid), tax_paid)
    return max(0, target - already_tax)
