"""creditable = paid - refunded - appeased - under return, per line and bucket, never below zero."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from service.domain.money import Currency
from service.domain.projection import BUCKETS, LineState, OrderState


@dataclass(frozen=True, slots=True)
class Amounts:
    """A gross amount and the tax inside it, in minor units; net is what is left."""

    gross: int = 0
    tax: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.tax

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.gross + other.gross, self.tax + other.tax)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.gross - other.gross, self.tax - other.tax)

    def clamped(self) -> Amounts:
        """Never below zero, and never more tax than gross."""
        gross = max(self.gross, 0)
        return Amounts(gross, min(max(self.tax, 0), gross))

    def share(self, units: int, of: int) -> Amounts:
        """`units` out of `of` equal units, rounded half up in minor units."""
        if of <= 0 or units <= 0:
            return Amounts()
        units = min(units, of)
        return Amounts(_share(self.gross, units, of), _share(self.tax, units, of))


def _share(amount: int, units: int, of: int) -> int:
    return (2 * amount * units + of) // (2 * of)


ZERO = Amounts()


@dataclass(frozen=True, slots=True)
class LineBalance:
    line: LineState
    cancelled: bool
    paid: Amounts
    refunded: Amounts
    appeased: Amounts
    under_return: Amounts
    under_return_units: int
    creditable: Amounts
    dropped: bool = False

    @property
    def over_credited(self) -> Amounts:
        """How far refunds and appeasements went beyond what was paid."""
        excess = self.refunded + self.appeased - self.paid
        return Amounts(max(excess.gross, 0), max(excess.tax, 0))

    @property
    def appeased_over_credited(self) -> int:
        """The gross of the over-credit that lands on appeased money; the OMS's own
        over-refund of money nobody appeased is not counted."""
        return min(self.over_credited.gross, max(self.appeased.gross, 0))


@dataclass(frozen=True, slots=True)
class BucketTotals:
    paid: Amounts = ZERO
    refunded: Amounts = ZERO
    appeased: Amounts = ZERO
    under_return: Amounts = ZERO
    creditable: Amounts = ZERO

    def __add__(self, line: LineBalance) -> BucketTotals:
        return BucketTotals(
            self.paid + line.paid,
            self.refunded + line.refunded,
            self.appeased + line.appeased,
            self.under_return + line.under_return,
            self.creditable + line.creditable,
        )


@dataclass(frozen=True, slots=True)
class OrderBalance:
    order: OrderState
    currency: Currency
    lines: tuple[LineBalance, ...]
    not_appeasable_reason: str | None
    buckets: dict[str, BucketTotals] = field(default_factory=dict)

    @property
    def appeasable(self) -> bool:
        return self.not_appeasable_reason is None

    @property
    def totals(self) -> BucketTotals:
        total = BucketTotals()
        for line in self.lines:
            total = total + line
        return total


def compute_balance(
    order: OrderState, appeased: Mapping[str, Amounts] | None = None
) -> OrderBalance:
    """The creditable balance of an order the OMS told us about (`order.known`)."""
    currency = Currency.of(order.currency)
    appeased = appeased or {}
    refunded = _refunded_by_line(order, currency)
    units = _units_under_return(order)
    lines: list[LineBalance] = []
    for line in sorted(order.lines.values(), key=lambda item: (item.line_number, item.line_id)):
        paid = ZERO if line.dropped else Amounts(line.paid_gross, line.paid_tax)
        cancelled = order.is_line_cancelled(line)
        held_back = cancelled or line.dropped
        under_units = 0 if held_back else min(units[line.line_number], line.quantity)
        under_return = paid.share(under_units, line.quantity)
        line_refunded = refunded.get(line.line_id, ZERO)
        line_appeased = appeased.get(line.line_id, ZERO)
        creditable = ZERO
        if not held_back and not order.payment_error:
            creditable = (paid - line_refunded - line_appeased - under_return).clamped()
        lines.append(
            LineBalance(
                line,
                cancelled,
                paid,
                line_refunded,
                line_appeased,
                under_return,
                under_units,
                creditable,
                line.dropped,
            )
        )
    buckets = {bucket: BucketTotals() for bucket in BUCKETS}
    for line_balance in lines:
        buckets[line_balance.line.bucket] = buckets[line_balance.line.bucket] + line_balance
    return OrderBalance(order, currency, tuple(lines), _not_appeasable(order, lines), buckets)


def _not_appeasable(order: OrderState, lines: Iterable[LineBalance]) -> str | None:
    if order.payment_error:
        return "PAYMENT_ERROR"
    if not any(line.paid.gross > 0 for line in lines):
        return "ORDER_NOT_PAID"
    return None


def _refunded_by_line(order: OrderState, currency: Currency) -> dict[str, Amounts]:
    refunded: dict[str, Amounts] = {}
    for refund in order.refunds.values():
        if not refund.counts:
            continue
        for piece in refund.lines:
            amount = Amounts(currency.to_minor(piece.gross), currency.to_minor(piece.tax))
            refunded[piece.order_line] = refunded.get(piece.order_line, ZERO) + amount
    return refunded


def _units_under_return(order: OrderState) -> Counter[int]:
    """Units of open returns whose own refund has not arrived yet, by order line number.

    Units leave one by one: each line entry of a counting Return refund releases one unit
    of its order line, from the refund's RMA, or, without an RMA, from the first open
    return (in RMA order) that still holds one. Refunds naming their RMA go first, so an
    RMA-less refund never takes a unit a named one was meant for.
    """
    held = {
        rma: Counter(state.line_numbers)
        for rma, state in sorted(order.returns.items())
        if state.open
    }
    number_of = {line.line_id: line.line_number for line in order.lines.values()}
    refunds = sorted(
        (refund for refund in order.refunds.values() if refund.is_return and refund.counts),
        key=lambda refund: (not refund.rma, refund.credit_note_number),
    )
    for refund in refunds:
        holders = [refund.rma] if refund.rma else list(held)
        for piece in refund.lines:
            number = number_of.get(piece.order_line)
            if number is None:
                continue
            for rma in holders:
                units = held.get(rma)
                if units is not None and units[number] > 0:
                    units[number] -= 1
                    break
    total: Counter[int] = Counter()
    for units in held.values():
        total.update(units)
    return total
