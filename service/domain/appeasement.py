"""What a CS agent asks for, and its exact split over lines, buckets and tax."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from service.domain.allocation import allocate
from service.domain.balance import ZERO, Amounts, LineBalance, OrderBalance
from service.domain.errors import DomainError, MalformedRequest
from service.domain.money import InvalidAmount
from service.domain.policy import BucketNotAllowedForReason
from service.domain.tax import gross_piece_tax, net_piece_tax

CHARGE_BUCKETS = ("product", "shipping", "handling", "fee")
REQUEST_BUCKETS = (*CHARGE_BUCKETS, "tax", "overage")
TAX_BEARING = ("product", "shipping", "handling")


@dataclass(frozen=True, slots=True)
class AmountsAsk:
    """Order-level amounts per bucket, in minor units (gross or net as the order's taxation)."""

    amounts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class LineAsk:
    line_id: str
    amount: int | None = None
    percent: Decimal | None = None
    unit_amount: int | None = None
    quantity: int | None = None


@dataclass(frozen=True, slots=True)
class LinesAsk:
    lines: tuple[LineAsk, ...]


@dataclass(frozen=True, slots=True)
class PercentAsk:
    percent: Decimal
    include_shipping: bool = False


Ask = AmountsAsk | LinesAsk | PercentAsk


@dataclass(frozen=True, slots=True)
class Piece:
    """Money credited on one order line: `quantity` units of it when asked per unit."""

    order_line: str
    bucket: str
    gross: int
    tax: int
    tax_rate: Decimal | None = None
    quantity: int | None = None

    @property
    def net(self) -> int:
        return self.gross - self.tax


@dataclass(frozen=True, slots=True)
class Allocation:
    pieces: tuple[Piece, ...]
    taxation: str
    requested_buckets: frozenset[str] = field(default_factory=frozenset)

    @property
    def total(self) -> Amounts:
        total = ZERO
        for piece in self.pieces:
            total = total + Amounts(piece.gross, piece.tax)
        return total


class OrderNotPaid(DomainError):
    code = "ORDER_NOT_PAID"


class PaymentError(DomainError):
    code = "PAYMENT_ERROR"


class UnknownLine(DomainError):
    code = "UNKNOWN_LINE"


class LineUnderReturn(DomainError):
    code = "LINE_UNDER_RETURN"


class ExceedsCreditableBalance(DomainError):
    code = "EXCEEDS_CREDITABLE_BALANCE"


class ExceedsTotalCreditable(DomainError):
    code = "EXCEEDS_TOTAL_CREDITABLE"


class TaxOnlyRequiresNetTaxation(DomainError):
    code = "TAX_ONLY_REQUIRES_NET_TAXATION"


class TaxWithOtherBuckets(DomainError):
    code = "TAX_WITH_OTHER_BUCKETS"


def plan(balance: OrderBalance, ask: Ask, allowed: frozenset[str] | None = None) -> Allocation:
    """The exact allocation of `ask` on this balance, or the rule it breaks.

    `allowed` are the buckets the reason may credit: overage and tax are spread only over
    lines of those buckets, so money never lands where the reason may not put it.
    """
    check_appeasable(balance)
    planner = _Planner(balance, allowed)
    match ask:
        case AmountsAsk():
            planner.amounts(ask.amounts)
        case LinesAsk():
            planner.lines(ask.lines)
        case PercentAsk():
            planner.percent(ask.percent, ask.include_shipping)
    return planner.result()


def check_appeasable(balance: OrderBalance) -> None:
    if balance.not_appeasable_reason == "PAYMENT_ERROR":
        raise PaymentError(f"order {balance.order.order_id} is in payment exception")
    if balance.not_appeasable_reason is not None:
        raise OrderNotPaid(f"order {balance.order.order_id} has no captured payment")


class _Planner:
    def __init__(self, balance: OrderBalance, allowed: frozenset[str] | None) -> None:
        self.balance = balance
        self.allowed = frozenset(REQUEST_BUCKETS) if allowed is None else allowed
        self.net = balance.order.taxation == "net"
        self.lines_by_id = {line.line.line_id: line for line in balance.lines}
        self.available = {line.line.line_id: line.creditable for line in balance.lines}
        self.credited = {line.line.line_id: line.appeased for line in balance.lines}
        self.pieces: list[Piece] = []
        self.buckets: set[str] = set()

    # --- request shapes -------------------------------------------------------------
    def amounts(self, amounts: Mapping[str, int]) -> None:
        asked = {bucket: amount for bucket, amount in amounts.items() if amount}
        if any(amount < 0 for amount in asked.values()):
            raise InvalidAmount(asked, "amounts must not be negative")
        if not asked:
            raise InvalidAmount(dict(amounts), "nothing to credit")
        if "tax" in asked:
            if not self.net:
                raise TaxOnlyRequiresNetTaxation(
                    "a tax-only credit needs an order under net taxation",
                    taxation=self.balance.order.taxation,
                )
            if len(asked) > 1:
                raise TaxWithOtherBuckets(
                    "tax is credited alone", buckets=sorted(asked)
                )
            self._spread_tax(asked["tax"])
        for bucket in CHARGE_BUCKETS:
            if asked.get(bucket):
                self._spread(asked[bucket], self._lines_in((bucket,)), bucket)
        if asked.get("overage"):
            self._spread_overage(asked["overage"])
        self.buckets.update(asked)

    def lines(self, asks: Iterable[LineAsk]) -> None:
        asks = tuple(asks)
        if not asks:
            raise InvalidAmount([], "no line given")
        named = [ask.line_id for ask in asks]
        twice = sorted({line_id for line_id in named if named.count(line_id) > 1})
        if twice:
            raise MalformedRequest(f"line {twice[0]} is named more than once", line=twice[0])
        for ask in asks:
            line = self.lines_by_id.get(ask.line_id)
            if line is None:
                raise UnknownLine(f"order has no line {ask.line_id}", line=ask.line_id)
            amount = self._line_amount(line, ask)
            if amount <= 0:
                raise InvalidAmount(amount, f"nothing to credit on line {ask.line_id}")
            available = self._weight(line.line.line_id)
            if amount > available:
                raise self._exceeds(line.line.bucket, amount, available, line=ask.line_id)
            self._credit(line, amount, line.line.bucket, ask.quantity if ask.unit_amount else None)
            self.buckets.add(line.line.bucket)

    def percent(self, percent: Decimal, include_shipping: bool) -> None:
        _check_percent(percent)
        for bucket in ("product", "shipping") if include_shipping else ("product",):
            lines = self._lines_in((bucket,))
            value = sum(self._weight(line.line.line_id) for line in lines)
            amount = _percent_of(value, percent)
            if amount:
                self._spread(amount, lines, bucket)
                self.buckets.add(bucket)
        if not self.pieces:
            raise InvalidAmount(str(percent), "nothing creditable to take a percentage of")

    def result(self) -> Allocation:
        merged: dict[tuple[str, str], Piece] = {}
        for piece in self.pieces:
            key = (piece.order_line, piece.bucket)
            held = merged.get(key)
            merged[key] = piece if held is None else Piece(
                piece.order_line, piece.bucket, held.gross + piece.gross, held.tax + piece.tax,
                piece.tax_rate, None,
            )
        order = {line_id: index for index, line_id in enumerate(self.lines_by_id)}
        pieces = sorted(merged.values(), key=lambda p: (order[p.order_line], p.bucket))
        taxation = "net" if self.net else "gross"
        return Allocation(tuple(pieces), taxation, frozenset(self.buckets))

    # --- mechanics ------------------------------------------------------------------
    def _lines_in(self, buckets: Iterable[str]) -> list[LineBalance]:
        buckets = frozenset(buckets)
        return [line for line in self.balance.lines if line.line.bucket in buckets]

    def _spread_overage(self, total: int) -> None:
        lines = self._lines_in(self.allowed.intersection(CHARGE_BUCKETS))
        if not any(self._weight(line.line.line_id) for line in lines) and any(
            self._weight(line.line.line_id) for line in self._lines_in(CHARGE_BUCKETS)
        ):
            raise BucketNotAllowedForReason(
                "overage lands only on buckets the reason allows, and none of them has "
                "money left", bucket="overage", allowed=sorted(self.allowed),
            )
        self._spread(total, lines, "overage")

    def _weight(self, line_id: str) -> int:
        available = self.available[line_id]
        return available.net if self.net else available.gross

    def _spread(self, total: int, lines: list[LineBalance], bucket: str) -> None:
        weights = [self._weight(line.line.line_id) for line in lines]
        if total > sum(weights):
            if bucket == "overage":
                raise ExceedsTotalCreditable(
                    f"overage {self._fmt(total)} exceeds the total creditable "
                    f"{self._fmt(sum(weights))}",
                    requested=self._fmt(total), available=self._fmt(sum(weights)),
                )
            raise self._exceeds(bucket, total, sum(weights))
        for line, part in zip(lines, allocate(total, weights), strict=True):
            if part:
                self._credit(line, part, line.line.bucket)

    def _spread_tax(self, total: int) -> None:
        lines = self._lines_in(self.allowed.intersection(TAX_BEARING))
        weights = [self.available[line.line.line_id].tax for line in lines]
        if total > sum(weights):
            raise self._exceeds("tax", total, sum(weights))
        for line, part in zip(lines, allocate(total, weights), strict=True):
            if part:
                self._take(line, Piece(line.line.line_id, "tax", part, part, line.line.tax_rate))

    def _credit(
        self, line: LineBalance, part: int, bucket: str, quantity: int | None = None
    ) -> None:
        """A piece of `part` (gross or net, per taxation) with its tax, cumulative per line."""
        line_id = line.line.line_id
        credited = self.credited[line_id]
        left = self.available[line_id].tax
        rate = _rate(line)
        if self.net:
            tax = min(net_piece_tax(credited.net, part, line.paid.net, line.paid.tax), left)
            piece = Piece(line_id, bucket, part + tax, tax, rate, quantity)
        else:
            tax = min(gross_piece_tax(credited.gross, part, rate), left, part)
            piece = Piece(line_id, bucket, part, tax, rate, quantity)
        self._take(line, piece)

    def _take(self, line: LineBalance, piece: Piece) -> None:
        line_id = line.line.line_id
        amounts = Amounts(piece.gross, piece.tax)
        self.available[line_id] = self.available[line_id] - amounts
        self.credited[line_id] = self.credited[line_id] + amounts
        self.pieces.append(piece)

    def _line_amount(self, line: LineBalance, ask: LineAsk) -> int:
        shapes = [ask.amount is not None, ask.percent is not None, ask.unit_amount is not None]
        if sum(shapes) != 1:
            raise InvalidAmount(ask.line_id, "give exactly one of amount, percent, unit_amount")
        fully_returned = line.under_return_units >= line.line.quantity > 0
        if fully_returned:
            raise LineUnderReturn(
                f"every unit of line {ask.line_id} is under return",
                line=ask.line_id, quantity=line.under_return_units,
            )
        if ask.amount is not None:
            return ask.amount
        if ask.percent is not None:
            _check_percent(ask.percent)
            return _percent_of(self._weight(line.line.line_id), ask.percent)
        quantity = ask.quantity or 0
        appeasable_units = line.line.quantity - line.under_return_units
        if quantity <= 0 or quantity > appeasable_units:
            if 0 < quantity <= line.line.quantity:
                raise LineUnderReturn(
                    f"only {appeasable_units} unit(s) of line {ask.line_id} are not under return",
                    line=ask.line_id, quantity=quantity, appeasable_quantity=appeasable_units,
                )
            raise InvalidAmount(quantity, f"quantity must be 1..{appeasable_units}")
        return (ask.unit_amount or 0) * quantity

    def _exceeds(
        self, bucket: str, requested: int, available: int, line: str | None = None
    ) -> ExceedsCreditableBalance:
        where = f"line {line}" if line else f"bucket {bucket}"
        return ExceedsCreditableBalance(
            f"{self._fmt(requested)} asked on {where}, {self._fmt(available)} creditable",
            bucket=bucket, line=line, requested=self._fmt(requested),
            available=self._fmt(available),
        )

    def _fmt(self, minor: int) -> str:
        return self.balance.currency.format(minor)


def _rate(line: LineBalance) -> Decimal:
    if line.line.tax_rate is not None:
        return line.line.tax_rate
    paid = line.paid
    if paid.net <= 0 or paid.tax <= 0:
        return Decimal(0)
    return (Decimal(paid.tax) * 100 / Decimal(paid.net)).quantize(Decimal("0.01"))


def _check_percent(percent: Decimal) -> None:
    if not percent.is_finite() or percent <= 0 or percent > 100:
        raise InvalidAmount(str(percent), "a percentage is above 0 and at most 100")


def _percent_of(value: int, percent: Decimal) -> int:
    return int((Decimal(value) * percent / 100).to_integral_value(rounding=ROUND_HALF_UP))
