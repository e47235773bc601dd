"""Tax inside appeasement pieces: each piece takes what it adds to the rounded tax of its
line's running total, so rounding errors never add up and nothing is caught up later."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(ROUND_HALF_UP))


def tax_in_gross(gross: int, rate: Decimal) -> int:
    """Tax inside a VAT-inclusive amount: round(gross x rate / (100 + rate))."""
    if not rate:
        return 0
    return _round(Decimal(gross) * rate / (Decimal(100) + rate))


def pro_rata_tax(net_piece: int, net_paid: int, tax_paid: int) -> int:
    """Under net taxation: the tax paid on a bucket, credited in proportion of net."""
    if net_paid <= 0:
        return 0
    return min(_round(Decimal(net_piece) * tax_paid / net_paid), tax_paid)


def gross_piece_tax(already_gross: int, piece_gross: int, rate: Decimal) -> int:
    """Tax of a new gross piece on a line that already had `already_gross` credited: what it
    adds to the rounded tax of the running total, so rounding errors never add up, and a
    piece never carries tax that an earlier piece did not get."""
    return tax_in_gross(already_gross + piece_gross, rate) - tax_in_gross(already_gross, rate)


def net_piece_tax(already_net: int, piece_net: int, net_paid: int, tax_paid: int) -> int:
    """Under net taxation: what a new net piece adds to the tax paid pro rata of the net
    credited on the line, the same way."""
    return (pro_rata_tax(already_net + piece_net, net_paid, tax_paid)
            - pro_rata_tax(already_net, net_paid, tax_paid))
