"""An independent model of one order's money, written from DESIGN.md's words, for the
stateful test in test_money_model.py.

It deliberately imports nothing from service/: it is a plain ledger, per order line, of
what was paid, what the OMS refunded (by credit note), which units are under return (by
RMA) and what appeasements hold (by appeasement and status), all in integer minor units.
The system under test is checked against it; it is never checked against the system.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CHARGE_BUCKETS = ("product", "shipping", "handling", "fee")
TAX_BEARING = ("product", "shipping", "handling")
BUCKET_OF_TYPE = {"PHYSICAL": "product", "SHIPPING": "shipping", "HANDLING": "handling",
                  "FEE": "fee"}
#: A credit note in these statuses gave its money back (DESIGN: "until FAILED or CANCELLED").
NOTE_GIVEN_BACK = frozenset({"FAILED", "CANCELLED"})
RETURN_OPEN = frozenset({"REQUESTED", "APPROVED"})
#: Lifecycle (DESIGN "Lifecycle and audit").
HOLDS_MONEY = frozenset({"PENDINGAPPROVAL", "PENDINGRELEASE", "RELEASED"})
GRANTED = frozenset({"PENDINGRELEASE", "RELEASED"})
TRANSITIONS = {
    ("PENDINGAPPROVAL", "approve"): "PENDINGRELEASE",
    ("PENDINGAPPROVAL", "decline"): "DECLINED",
    ("PENDINGRELEASE", "release"): "RELEASED",
    ("PENDINGRELEASE", "cancel"): "FAILED",
}
#: A PSP outcome told twice is no change, not an error.
REPEATED = {("RELEASED", "release"), ("FAILED", "cancel")}


def half_up(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def share(amount: int, units: int, of: int) -> int:
    """`units` of `of` equal units of `amount`, rounded half up in minor units."""
    if units <= 0 or of <= 0:
        return 0
    return half_up(Decimal(amount) * min(units, of) / of)


def largest_remainder(total: int, weights: list[int]) -> list[int] | None:
    """Split by value, ties by line order; None when the weights cannot hold `total`."""
    whole = sum(weights)
    if total > whole:
        return None
    if total == 0:
        return [0] * len(weights)
    floors = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for index in order[: total - sum(floors)]:
        floors[index] += 1
    return floors


@dataclass(frozen=True)
class Money:
    gross: int = 0
    tax: int = 0

    def __add__(self, other: Money) -> Money:
        return Money(self.gross + other.gross, self.tax + other.tax)

    def __sub__(self, other: Money) -> Money:
        return Money(self.gross - other.gross, self.tax - other.tax)

    @property
    def net(self) -> int:
        return self.gross - self.tax

    def clamped(self) -> Money:
        gross = max(self.gross, 0)
        return Money(gross, min(max(self.tax, 0), gross))


NOTHING = Money()


@dataclass(frozen=True)
class CatalogueLine:
    """A line as the OMS sells it; snapshots list it (or not) and may cancel it."""

    line_id: str
    number: int
    product_type: str
    quantity: int
    gross: int
    tax: int
    rate: Decimal

    @property
    def bucket(self) -> str:
        return BUCKET_OF_TYPE[self.product_type]


@dataclass
class CreditNote:
    kind: str
    status: str
    lines: tuple[tuple[str, int, int], ...]
    rma: str | None
    at: int

    @property
    def counts(self) -> bool:
        return self.status not in NOTE_GIVEN_BACK


@dataclass
class Rma:
    status: str
    units: Counter[int]
    at: int

    @property
    def open(self) -> bool:
        return self.status in RETURN_OPEN


@dataclass
class Appeased:
    reason: str
    role: str
    requester: str
    status: str
    pieces: tuple[tuple[str, str, int, int], ...]  # (line id, bucket, gross, tax)

    @property
    def gross(self) -> int:
        return sum(piece[2] for piece in self.pieces)


@dataclass
class Ledger:
    catalogue: dict[str, CatalogueLine]
    taxation: str
    listed: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    payment_error: bool = False
    snapshot_at: int | None = None
    notes: dict[str, CreditNote] = field(default_factory=dict)
    returns: dict[str, Rma] = field(default_factory=dict)
    appeasements: dict[str, Appeased] = field(default_factory=dict)

    # --- what happens -----------------------------------------------------------------
    def snapshot(self, at: int, listed: dict[str, bool], payment_error: bool) -> bool:
        """The whole order, newest wins; `listed` maps a line to whether it is cancelled."""
        if self.snapshot_at is not None and at < self.snapshot_at:
            return False
        self.snapshot_at = at
        self.listed = set(listed)
        self.cancelled |= {line for line, cancelled in listed.items() if cancelled}
        self.payment_error = payment_error
        return True

    def cancel(self, line_id: str) -> None:
        self.cancelled.add(line_id)

    def credit_note(self, number: str, kind: str, status: str,
                    lines: tuple[tuple[str, int, int], ...], rma: str | None, at: int) -> bool:
        """An update dated before the note's latest is ignored (False)."""
        held = self.notes.get(number)
        if held is not None and at < held.at:
            return False
        if held is not None and not lines:
            held.status, held.at = status, at
            return True
        self.notes[number] = CreditNote(kind, status, lines, rma, at)
        return True

    def return_update(self, rma: str, status: str, numbers: tuple[int, ...], at: int) -> bool:
        """An update dated before the return's latest is ignored (False)."""
        held = self.returns.get(rma)
        if held is not None and at < held.at:
            return False
        units = Counter(numbers) if numbers or held is None else held.units
        self.returns[rma] = Rma(status, units, at)
        return True

    def appease(self, appeasement_id: str, appeased: Appeased) -> None:
        self.appeasements[appeasement_id] = appeased

    def move(self, appeasement_id: str, action: str) -> str | None:
        """The status after `action`, None when it is a repeat; KeyError when refused."""
        held = self.appeasements[appeasement_id]
        if (held.status, action) in REPEATED:
            return None
        target = TRANSITIONS[(held.status, action)]
        held.status = target
        return target

    # --- what it adds up to -------------------------------------------------------------
    def is_listed(self, line_id: str) -> bool:
        return line_id in self.listed

    def paid(self, line_id: str) -> Money:
        """Captured money of a listed line; a line the latest snapshot dropped paid nothing."""
        if line_id not in self.listed:
            return NOTHING
        line = self.catalogue[line_id]
        return Money(line.gross, line.tax)

    def oms_refunded(self, line_id: str) -> Money:
        total = NOTHING
        for note in self.notes.values():
            if note.counts:
                for refunded_line, gross, tax in note.lines:
                    if refunded_line == line_id:
                        total = total + Money(gross, tax)
        return total

    def appeased(self, line_id: str, leaving_out: str | None = None) -> Money:
        total = NOTHING
        for appeasement_id, held in self.appeasements.items():
            if held.status in HOLDS_MONEY and appeasement_id != leaving_out:
                for piece_line, _, gross, tax in held.pieces:
                    if piece_line == line_id:
                        total = total + Money(gross, tax)
        return total

    def units_under_return(self, line_id: str) -> int:
        """Units of open returns not yet released one by one by their own line's refund."""
        line = self.catalogue[line_id]
        units = 0
        for rma, held in self.returns.items():
            if not held.open:
                continue
            released = sum(
                1
                for note in self.notes.values()
                if note.counts and note.kind == "Return" and note.rma == rma
                for refunded_line, _, _ in note.lines
                if refunded_line == line_id
            )
            units += max(held.units[line.number] - released, 0)
        return min(units, line.quantity)

    def under_return(self, line_id: str) -> Money:
        line = self.catalogue[line_id]
        units = self.units_under_return(line_id)
        paid = self.paid(line_id)
        return Money(share(paid.gross, units, line.quantity),
                     share(paid.tax, units, line.quantity))

    def creditable(self, line_id: str) -> Money:
        if line_id not in self.listed or line_id in self.cancelled or self.payment_error:
            return NOTHING
        return (self.paid(line_id) - self.oms_refunded(line_id) - self.appeased(line_id)
                - self.under_return(line_id)).clamped()

    def weight(self, line_id: str) -> int:
        """What a split weighs a line by: creditable gross, or net under net taxation."""
        creditable = self.creditable(line_id)
        return creditable.net if self.taxation == "net" else creditable.gross

    def over_credit(self, line_id: str) -> int:
        paid = self.paid(line_id)
        return max(self.oms_refunded(line_id).gross + self.appeased(line_id).gross - paid.gross, 0)

    def paid_total(self) -> int:
        return sum(self.paid(line_id).gross for line_id in self.listed)

    def granted_on_order(self, leaving_out: str | None = None) -> int:
        return sum(held.gross for key, held in self.appeasements.items()
                   if held.status in GRANTED and key != leaving_out)

    def held_for_reason(self, reason: str, leaving_out: str | None = None) -> int:
        return sum(held.gross for key, held in self.appeasements.items()
                   if held.status in HOLDS_MONEY and held.reason == reason and key != leaving_out)

    def lines_in_order(self) -> list[CatalogueLine]:
        return sorted(self.catalogue.values(), key=lambda line: line.number)

    # --- what a request should come to -----------------------------------------------------
    def expected_amounts(self, amounts: dict[str, int], allowed: frozenset[str]
                         ) -> dict[str, int] | str:
        """Per line, the gross (net under net taxation) an order-level request lands, or why
        it cannot: buckets in order by creditable value, then overage over every allowed
        bucket by what is left, all by the largest remainder with ties by line order."""
        asked = {bucket: amount for bucket, amount in amounts.items() if amount}
        if "tax" in asked:
            if self.taxation != "net" or len(asked) > 1:
                return "TAX"
            lines = [line for line in self.lines_in_order()
                     if line.bucket in TAX_BEARING and line.bucket in allowed]
            parts = largest_remainder(asked["tax"],
                                      [self.creditable(line.line_id).tax for line in lines])
            if parts is None:
                return "EXCEEDS"
            return {line.line_id: part for line, part in zip(lines, parts, strict=True) if part}
        left = {line.line_id: self.weight(line.line_id) for line in self.lines_in_order()}
        landed: Counter[str] = Counter()
        spreads = [(bucket, (bucket,)) for bucket in CHARGE_BUCKETS if asked.get(bucket)]
        if asked.get("overage"):
            spreads.append(("overage", tuple(b for b in CHARGE_BUCKETS if b in allowed)))
        for bucket, where in spreads:
            lines = [line for line in self.lines_in_order() if line.bucket in where]
            parts = largest_remainder(asked[bucket], [left[line.line_id] for line in lines])
            if parts is None:
                return "EXCEEDS"
            for line, part in zip(lines, parts, strict=True):
                left[line.line_id] -= part
                landed[line.line_id] += part
        return {line: part for line, part in landed.items() if part}

    def expected_percent(self, percent: Decimal, include_shipping: bool) -> dict[str, int] | str:
        landed: Counter[str] = Counter()
        for bucket in ("product", "shipping") if include_shipping else ("product",):
            lines = [line for line in self.lines_in_order() if line.bucket == bucket]
            weights = [self.weight(line.line_id) for line in lines]
            amount = half_up(Decimal(sum(weights)) * percent / 100)
            parts = largest_remainder(amount, weights)
            assert parts is not None
            for line, part in zip(lines, parts, strict=True):
                landed[line.line_id] += part
        result = {line: part for line, part in landed.items() if part}
        return result or "NOTHING"

    def expected_line(self, line_id: str, amount: int | None, percent: Decimal | None,
                      unit_amount: int | None, quantity: int | None) -> int | str:
        line = self.catalogue.get(line_id)
        if line is None:
            return "UNKNOWN"
        weight = self.weight(line_id)
        under = self.units_under_return(line_id) if self.is_listed(line_id) else 0
        if under >= line.quantity:
            return "UNDER_RETURN"
        if percent is not None:
            amount = half_up(Decimal(weight) * percent / 100)
        elif unit_amount is not None:
            if not quantity or quantity > line.quantity - under:
                return "UNDER_RETURN"
            amount = unit_amount * quantity
        assert amount is not None
        if amount <= 0:
            return "NOTHING"
        if amount > weight:
            return "EXCEEDS"
        return amount
