"""One order's money, step by step, against an independent ledger (tests/unit/ledger.py).

A hypothesis state machine drives the pure domain the way the service does: OMS events
(snapshots newer and older, lines dropped or cancelled, credit notes and their status-only
updates, returns and their unit-by-unit refunds, older updates of notes and returns delivered
late) folded into one `OrderState`;
`compute_balance` over what the accepted appeasements hold; `decide` for grants of every
request shape; `check_may_decide` for approvals and declines; `next_status` for every
transition, PSP outcomes included. The harness keeps the rows the service's database would
(id, reason, role, requester, status, pieces, amount) and derives from them the appeased
money by line and the `Already` figures.

Beside it, a plain ledger written from DESIGN.md's words (it imports nothing from
service/) keeps, per order line, what was paid, what the OMS refunded by credit note,
which units are under return by RMA and what each appeasement holds in which status.

After every step the balance must be the ledger's to the cent (creditable = paid -
refunded - appeased - under return, clamped at zero; nothing on a dropped or cancelled
line), and a line may be credited beyond what was paid only by an OMS refund of money
already appeased, by at most that money. At every accepted grant the allocation must add
up, land only on creditable lines of the reason's buckets, split as the ledger splits
(largest remainder by creditable value), push no line over (gross and tax), carry the
tax of its own amount give or take one unit of cumulative rounding, and keep within
every limit, cumulative: the reason's caps over held, pending and released money, the
role's over granted money, held for approval only when the role says so. A refusal must
be one the ledger explains; an approval must keep within the approver's own limits.

Amounts are small (1.00 to 40.00 a line, 1 to 3 units) and so are the policy's limits
below, so balances run dry and limits are reached within a few steps.

Settings: max_examples=250, stateful_step_count=50: about 25-30 s on two cores. Run with
--hypothesis-show-statistics to see how often each outcome is reached.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from service.domain.appeasement import AmountsAsk, Ask, LineAsk, LinesAsk, PercentAsk
from service.domain.approval import check_may_decide
from service.domain.balance import Amounts, compute_balance
from service.domain.errors import DomainError
from service.domain.events import (
    Customer,
    LinePayment,
    OmsRefundUpdated,
    OrderLineCancelled,
    OrderSnapshotReceived,
    RefundLineAmount,
    ReturnUpdated,
    SnapshotLine,
)
from service.domain.grant import Decision, decide
from service.domain.lifecycle import next_status
from service.domain.policy import Already, Policy, Reason, Role
from service.domain.projection import OrderState, ProjectionRules
from tests.unit.ledger import (
    CHARGE_BUCKETS,
    TAX_BEARING,
    Appeased,
    CatalogueLine,
    Ledger,
    Money,
    half_up,
)

ALL_BUCKETS = frozenset({*CHARGE_BUCKETS, "tax", "overage"})


def _reason(code: str, buckets: frozenset[str], max_amount: str | None = None,
            max_percent: str | None = None) -> Reason:
    return Reason(code=code, label=code.title(), buckets=buckets,
                  max_amount=None if max_amount is None else Decimal(max_amount),
                  max_percent_of_order=None if max_percent is None else Decimal(max_percent))


POLICY = Policy(
    reasons={
        "CUSTOMER_COMPLAINT": _reason("CUSTOMER_COMPLAINT", ALL_BUCKETS, max_percent="30"),
        "DELIVERY_DELAYED": _reason("DELIVERY_DELAYED",
                                    frozenset({"shipping", "handling", "overage"})),
        "ARTICLE_DEFECTIVE": _reason("ARTICLE_DEFECTIVE",
                                     frozenset({"product", "tax", "overage"})),
        "OTHER": _reason("OTHER", ALL_BUCKETS, max_amount="12.00"),
        "FRAUD": _reason("FRAUD", ALL_BUCKETS),
    },
    roles={
        "agent": Role(name="agent", max_per_appeasement=Decimal("6.00"),
                      max_per_order=Decimal("20.00"), may_approve=False, above_limit="hold",
                      max_per_customer=Decimal("30.00"), customer_window_days=30),
        "trainee": Role(name="trainee", max_per_appeasement=Decimal("4.00"),
                        above_limit="reject"),
        "lead": Role(name="lead", max_per_appeasement=Decimal("15.00"),
                     max_per_order=Decimal("40.00"), may_approve=True, above_limit="reject",
                     max_per_customer=Decimal("35.00"), customer_window_days=30),
        "manager": Role(name="manager", may_approve=True),
        "auditor": Role(name="auditor"),
    },
    access={
        "read": frozenset({"agent", "trainee", "lead", "manager", "auditor"}),
        "grant": frozenset({"agent", "trainee", "lead", "manager"}),
        "approve": frozenset({"lead", "manager"}),
        "claims": frozenset({"agent", "lead", "manager"}),
    },
)
#: Users and their roles; "intern" is a role the policy does not know: it may do nothing.
USERS = {"agent-1": "agent", "agent-2": "agent", "trainee-1": "trainee", "lead-1": "lead",
         "lead-2": "lead", "manager-1": "manager", "auditor-1": "auditor", "intern-1": "intern"}
#: Who asks, weighted towards the agents whose limits hold appeasements for approval.
GRANTERS = ["agent-1", "agent-2", "agent-1", "agent-2", "trainee-1", "lead-1", "lead-2",
            "manager-1", "auditor-1", "intern-1"]
#: Who decides a held appeasement, weighted towards those who may.
DECIDERS = ["lead-1", "manager-1", "lead-2", "lead-1", "manager-1", *sorted(USERS)]
RULES = ProjectionRules(taxation_by_store={"us-web": "net"})
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOTE_STATUSES = ["PENDINGRELEASE", "RELEASED", "FAILED", "CANCELLED"]
#: Refusals the balance explains: the ledger must find the request impossible too.
BALANCE_REFUSALS = frozenset({
    "EXCEEDS_CREDITABLE_BALANCE", "EXCEEDS_TOTAL_CREDITABLE", "LINE_UNDER_RETURN",
    "INVALID_AMOUNT", "ORDER_NOT_PAID", "PAYMENT_ERROR", "UNKNOWN_LINE",
    "TAX_ONLY_REQUIRES_NET_TAXATION", "TAX_WITH_OTHER_BUCKETS",
})

cents = st.integers(min_value=1, max_value=1500)
percents = st.one_of(st.integers(1, 100).map(Decimal),
                     st.integers(1, 999).map(lambda tenth: Decimal(tenth).scaleb(-1)))


def major(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-2)


def minor(amount: Decimal) -> int:
    return int(amount.scaleb(2))


@dataclass
class Row:
    """What the service's database keeps of an accepted appeasement."""

    reason: str
    role: str
    requester: str
    status: str
    pieces: tuple
    amount: Decimal


@settings(max_examples=250, stateful_step_count=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
class MoneyModel(RuleBasedStateMachine):
    appeasements = Bundle("appeasements")

    # --- setting up -----------------------------------------------------------------
    @initialize(data=st.data())
    def open_order(self, data: st.DataObject) -> None:
        self.store = data.draw(st.sampled_from(["eu-web", "us-web"]), label="store")
        taxation = "net" if self.store == "us-web" else "gross"
        catalogue: dict[str, CatalogueLine] = {}
        for number in range(1, data.draw(st.integers(2, 4), label="lines") + 1):
            kind = "PHYSICAL" if number == 1 else data.draw(
                st.sampled_from(["PHYSICAL", "SHIPPING", "HANDLING", "FEE"]))
            if taxation == "net":
                rate = Decimal("0") if kind == "FEE" else Decimal("8.25")
            else:
                rate = data.draw(st.sampled_from([Decimal(21), Decimal("5.5"), Decimal(0)]))
            gross = data.draw(st.integers(100, 4000))
            tax = half_up(Decimal(gross) * rate / (100 + rate))
            catalogue[f"L{number}"] = CatalogueLine(
                f"L{number}", number, kind, data.draw(st.integers(1, 3)), gross, tax, rate)
        self.state = OrderState("O1")
        self.ledger = Ledger(catalogue, taxation)
        self.rows: dict[str, Row] = {}
        self.sequence = 0
        self.clock = 0
        self.steps = 0
        self._send_snapshot(100, {line: False for line in catalogue}, False)

    def _next(self, prefix: str) -> str:
        self.sequence += 1
        return f"{prefix}{self.sequence}"

    # --- the OMS --------------------------------------------------------------------
    def _snapshot_event(self, at: int, listed: dict[str, bool], error: bool
                        ) -> OrderSnapshotReceived:
        lines = []
        for line in self.ledger.lines_in_order():
            if line.line_id not in listed:
                continue
            gross, tax = major(line.gross), major(line.tax)
            lines.append(SnapshotLine(
                line.line_id, line.number, line.product_type, f"SKU-{line.line_id}",
                line.quantity, gross, tax, line.rate,
                status="CANCELLED" if listed[line.line_id] else "ALLOCATED",
                payments=(LinePayment("CAPTURED", gross, tax),),
            ))
        return OrderSnapshotReceived(
            "O1", self.store, "EUR", tuple(lines), status="ERROR" if error else "PROCESSING",
            status_date=T0 + timedelta(hours=at), customer=Customer(id="C1"),
        )

    def _send_snapshot(self, at: int, listed: dict[str, bool], error: bool) -> None:
        applied = self.state.apply(self._snapshot_event(at, listed, error), RULES)
        expected = self.ledger.snapshot(at, listed, error)
        assert applied == expected, f"snapshot at {at}: applied {applied}, ledger {expected}"

    @rule(data=st.data())
    def newer_snapshot(self, data: st.DataObject) -> None:
        ids = sorted(self.ledger.catalogue)
        dropped = data.draw(st.sets(st.sampled_from(ids), max_size=len(ids) - 1),
                            label="dropped")
        cancels = set()
        if len(self._active()) > 1 and data.draw(st.integers(0, 3), label="cancel one") == 3:
            cancels = {data.draw(st.sampled_from(ids), label="cancelled")}
        error = data.draw(st.integers(0, 19), label="error") == 19
        later = data.draw(st.integers(1, 3), label="later")
        listed = {line: line in self.ledger.cancelled or line in cancels
                  for line in ids if line not in dropped}
        assert self.ledger.snapshot_at is not None
        self._send_snapshot(self.ledger.snapshot_at + later, listed, error)

    @rule(data=st.data())
    def older_snapshot(self, data: st.DataObject) -> None:
        ids = sorted(self.ledger.catalogue)
        kept = data.draw(st.sets(st.sampled_from(ids), min_size=1), label="stale lines")
        listed = {line: data.draw(st.booleans(), label="stale cancel") for line in sorted(kept)}
        earlier = data.draw(st.integers(1, 50), label="earlier")
        assert self.ledger.snapshot_at is not None
        self._send_snapshot(self.ledger.snapshot_at - earlier, listed,
                            data.draw(st.booleans(), label="stale error"))

    def _active(self) -> list[str]:
        return sorted(self.ledger.listed - self.ledger.cancelled)

    @precondition(lambda self: len(self._active()) > 1)
    @rule(data=st.data())
    def line_cancelled(self, data: st.DataObject) -> None:
        line = data.draw(st.sampled_from(sorted(self.ledger.catalogue)), label="line")
        self.state.apply(OrderLineCancelled("O1", line), RULES)
        self.ledger.cancel(line)

    def _tick(self) -> int:
        """The OMS's clock: every update it sends is dated after the one before."""
        self.clock += 1
        return self.clock

    def _refund(self, number: str, kind: str, status: str,
                lines: tuple[tuple[str, int, int], ...], rma: str | None,
                at: int | None = None) -> None:
        at = self._tick() if at is None else at
        applied = self.state.apply(OmsRefundUpdated(
            "O1", number, "oms", kind, status,
            tuple(RefundLineAmount(line, major(gross), major(tax)) for line, gross, tax in lines),
            rma, T0 + timedelta(minutes=at),
        ), RULES)
        expected = self.ledger.credit_note(number, kind, status, lines, rma, at)
        assert applied == expected, f"{number} at {at}: applied {applied}, ledger {expected}"

    def _honest(self, line_id: str, gross: int, taken: Counter[str]) -> tuple[str, int, int]:
        """What an honest OMS refunds: never more than paid minus what it already refunded
        on that line (it knows nothing of appeasements)."""
        paid = self.ledger.paid(line_id)
        done = self.ledger.oms_refunded(line_id)
        gross = max(min(gross, paid.gross - done.gross - taken[f"{line_id}:g"]), 0)
        tax = half_up(Decimal(gross) * paid.tax / paid.gross) if paid.gross else 0
        tax = max(min(tax, gross, paid.tax - done.tax - taken[f"{line_id}:t"]), 0)
        taken[f"{line_id}:g"] += gross
        taken[f"{line_id}:t"] += tax
        return (line_id, gross, tax)

    @precondition(lambda self: self.ledger.listed)
    @rule(data=st.data())
    def oms_refund(self, data: st.DataObject) -> None:
        chosen = data.draw(st.lists(st.sampled_from(sorted(self.ledger.listed)), min_size=1,
                                    max_size=2, unique=True), label="refunded lines")
        taken: Counter[str] = Counter()
        amounts = st.one_of(st.integers(0, 500), st.integers(0, 4000))
        lines = tuple(self._honest(line, data.draw(amounts, label="gross"), taken)
                      for line in chosen)
        status = data.draw(st.sampled_from(NOTE_STATUSES), label="status")
        self._refund(self._next("CN"), "Cancellation", status, lines, None)

    def _returnable(self) -> dict[str, list[str]]:
        """Per open RMA, one entry per unit still under it, on lines still listed."""
        found: dict[str, list[str]] = {}
        for rma, held in self.ledger.returns.items():
            if not held.open:
                continue
            units = []
            for line in self.ledger.lines_in_order():
                released = sum(
                    1 for note in self.ledger.notes.values()
                    if note.counts and note.kind == "Return" and note.rma == rma
                    for refunded, _, _ in note.lines if refunded == line.line_id
                )
                left = held.units[line.number] - released
                if left > 0 and self.ledger.is_listed(line.line_id):
                    units += [line.line_id] * left
            if units:
                found[rma] = units
        return found

    @precondition(lambda self: self._returnable())
    @rule(data=st.data())
    def return_refund(self, data: st.DataObject) -> None:
        returnable = self._returnable()
        rma = data.draw(st.sampled_from(sorted(returnable)), label="rma")
        units = returnable[rma]
        picked = data.draw(st.lists(st.integers(0, len(units) - 1), min_size=1,
                                    max_size=len(units), unique=True), label="units")
        taken: Counter[str] = Counter()
        lines = []
        for index in sorted(picked):
            line = self.ledger.catalogue[units[index]]
            lines.append(self._honest(line.line_id, half_up(Decimal(line.gross) / line.quantity),
                                      taken))
        status = data.draw(st.sampled_from(NOTE_STATUSES), label="status")
        self._refund(self._next("CN"), "Return", status, tuple(lines), rma)

    @precondition(lambda self: any(note.counts for note in self.ledger.notes.values()))
    @rule(data=st.data())
    def credit_note_update(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(
            key for key, note in self.ledger.notes.items() if note.counts)), label="note")
        note = self.ledger.notes[number]
        status = data.draw(st.sampled_from(NOTE_STATUSES), label="status")
        status_only = data.draw(st.booleans(), label="status only")
        self._refund(number, note.kind, status, () if status_only else note.lines, note.rma)

    @precondition(lambda self: self.ledger.notes)
    @rule(data=st.data())
    def credit_note_update_delivered_late(self, data: st.DataObject) -> None:
        """An update the OMS sent before the note's latest, delivered now (an HTTP retry)."""
        number = data.draw(st.sampled_from(sorted(self.ledger.notes)), label="late note")
        note = self.ledger.notes[number]
        status = data.draw(st.sampled_from(NOTE_STATUSES), label="late status")
        earlier = data.draw(st.integers(1, 5), label="sent earlier by")
        self._refund(number, note.kind, status, (), note.rma, at=note.at - earlier)

    @precondition(lambda self: self.ledger.listed)
    @rule(data=st.data())
    def return_requested(self, data: st.DataObject) -> None:
        chosen = data.draw(st.lists(st.sampled_from(sorted(self.ledger.listed)), min_size=1,
                                    max_size=3), label="returned units")
        count = Counter(chosen)
        numbers = []
        for line_id, units in sorted(count.items()):
            line = self.ledger.catalogue[line_id]
            numbers += [line.number] * min(units, line.quantity)
        status = data.draw(st.sampled_from(["REQUESTED", "APPROVED"]), label="status")
        self._return(self._next("RMA"), status, tuple(numbers))

    @precondition(lambda self: any(held.open for held in self.ledger.returns.values()))
    @rule(data=st.data())
    def return_updated(self, data: st.DataObject) -> None:
        rma = data.draw(st.sampled_from(sorted(
            key for key, held in self.ledger.returns.items() if held.open)), label="rma")
        status = data.draw(st.sampled_from(["APPROVED", "REJECTED", "CANCELLED", "CLOSED",
                                            "REQUESTED"]), label="status")
        numbers = tuple(sorted(self.ledger.returns[rma].units.elements()))
        self._return(rma, status, numbers)

    @precondition(lambda self: self.ledger.returns)
    @rule(data=st.data())
    def return_update_delivered_late(self, data: st.DataObject) -> None:
        rma = data.draw(st.sampled_from(sorted(self.ledger.returns)), label="late rma")
        status = data.draw(st.sampled_from(["APPROVED", "REJECTED", "CANCELLED", "CLOSED",
                                            "REQUESTED"]), label="late return status")
        earlier = data.draw(st.integers(1, 5), label="sent earlier by")
        self._return(rma, status, (), at=self.ledger.returns[rma].at - earlier)

    def _return(self, rma: str, status: str, numbers: tuple[int, ...],
                at: int | None = None) -> None:
        at = self._tick() if at is None else at
        applied = self.state.apply(
            ReturnUpdated("O1", rma, status, numbers, status_date=T0 + timedelta(minutes=at)),
            RULES,
        )
        expected = self.ledger.return_update(rma, status, numbers, at)
        assert applied == expected, f"{rma} at {at}: applied {applied}, ledger {expected}"

    # --- what the service's database would give -------------------------------------
    def _appeased_by_line(self) -> dict[str, Amounts]:
        by_line: dict[str, Amounts] = {}
        for row in self.rows.values():
            if row.status in ("PENDINGAPPROVAL", "PENDINGRELEASE", "RELEASED"):
                for piece in row.pieces:
                    by_line[piece.order_line] = (by_line.get(piece.order_line, Amounts())
                                                 + Amounts(piece.gross, piece.tax))
        return by_line

    def _already(self, reason: str, leaving_out: str | None = None) -> Already:
        granted = sum((row.amount for key, row in self.rows.items()
                       if row.status in ("PENDINGRELEASE", "RELEASED") and key != leaving_out),
                      Decimal("0.00"))
        for_reason = sum((row.amount for key, row in self.rows.items()
                          if row.status in ("PENDINGAPPROVAL", "PENDINGRELEASE", "RELEASED")
                          and row.reason == reason and key != leaving_out), Decimal("0.00"))
        return Already(on_order=granted, for_reason=for_reason, for_customer=granted)

    # --- grants ---------------------------------------------------------------------
    @rule(target=appeasements, data=st.data())
    def grant_amounts(self, data: st.DataObject):
        reason, user = self._who(data)
        present = {self.ledger.catalogue[line].bucket for line in self._active()}
        fitting = sorted(POLICY.reason(reason).buckets & (present | {"overage", "tax"})
                         - ({"tax"} if self.ledger.taxation == "gross" else set())) or ["product"]
        pool = data.draw(st.sampled_from([fitting, fitting, sorted(ALL_BUCKETS)]), label="pool")
        buckets = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True),
                            label="buckets")
        amounts = {bucket: self._amount(data, self._room(bucket, reason), bucket)
                   for bucket in buckets}
        expected = self.ledger.expected_amounts(amounts, POLICY.reason(reason).buckets)
        return self._grant(AmountsAsk(amounts), reason, user, expected)

    @rule(target=appeasements, data=st.data())
    def grant_lines(self, data: st.DataObject):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.ledger.catalogue)), min_size=1,
                                 max_size=2, unique=True), label="lines")
        asks = []
        expected: dict[str, int] | str = {}
        for line_id in ids:
            shape = data.draw(st.sampled_from(["amount", "percent", "unit"]), label="shape")
            if shape == "amount":
                ask = LineAsk(line_id, amount=self._amount(
                    data, self.ledger.weight(line_id), "amount"))
            elif shape == "percent":
                ask = LineAsk(line_id, percent=data.draw(percents, label="percent"))
            else:
                ask = LineAsk(line_id, unit_amount=data.draw(st.integers(1, 1500), label="unit"),
                              quantity=data.draw(st.one_of(
                                  st.integers(1, self.ledger.catalogue[line_id].quantity),
                                  st.integers(1, 3)), label="quantity"))
            asks.append(ask)
            landed = self.ledger.expected_line(line_id, ask.amount, ask.percent,
                                               ask.unit_amount, ask.quantity)
            if isinstance(expected, dict):
                expected = landed if isinstance(landed, str) else {**expected, line_id: landed}
        reason, user = self._who(data, self.ledger.catalogue[ids[0]].bucket)
        return self._grant(LinesAsk(tuple(asks)), reason, user, expected)

    @rule(target=appeasements, data=st.data())
    def grant_percent(self, data: st.DataObject):
        percent = data.draw(percents, label="percent")
        shipping = data.draw(st.booleans(), label="with shipping")
        reason, user = self._who(data, "product")
        return self._grant(PercentAsk(percent, shipping), reason, user,
                    self.ledger.expected_percent(percent, shipping))

    def _amount(self, data: st.DataObject, room: int, label: str) -> int:
        """Mostly within what the ledger says is left, sometimes anything."""
        return data.draw(st.one_of(st.integers(1, max(min(room, 1000), 1)),
                                   st.integers(1, max(room, 1)), cents), label=label)

    def _room(self, bucket: str, reason: str) -> int:
        ledger = self.ledger
        if bucket == "tax":
            return sum(ledger.creditable(line.line_id).tax for line in ledger.lines_in_order()
                       if line.bucket in TAX_BEARING)
        where = POLICY.reason(reason).buckets if bucket == "overage" else {bucket}
        return sum(ledger.weight(line.line_id) for line in ledger.lines_in_order()
                   if line.bucket in where)

    def _who(self, data: st.DataObject, needs: str | None = None) -> tuple[str, str]:
        """A reason (mostly one that allows `needs`) and a user (mostly one who may grant)."""
        fitting = [code for code, reason in sorted(POLICY.reasons.items())
                   if needs is None or needs in reason.buckets]
        reason = data.draw(st.sampled_from(fitting * 3 + sorted(POLICY.reasons)), label="reason")
        user = data.draw(st.sampled_from(GRANTERS), label="user")
        return reason, user

    def _grant(self, ask: Ask, reason: str, user: str, expected: dict[str, int] | str):
        role = USERS[user]
        balance = compute_balance(self.state, self._appeased_by_line())
        try:
            decision = decide(balance, ask, reason_code=reason, role_name=role, policy=POLICY,
                              already=self._already(reason))
        except DomainError as refused:
            event(f"grant refused {refused.code}")
            self._check_refusal(refused, ask, reason, role, expected)
            return multiple()
        event(f"grant {decision.status}")
        self._check_decision(decision, ask, reason, role, expected)
        key = self._next("A")
        self.rows[key] = Row(reason, role, user, decision.status, decision.allocation.pieces,
                             decision.amount)
        self.ledger.appease(key, Appeased(
            reason, role, user, decision.status,
            tuple((p.order_line, p.bucket, p.gross, p.tax) for p in decision.allocation.pieces),
        ))
        return key

    def _requested_buckets(self, ask: Ask) -> set[str]:
        match ask:
            case AmountsAsk():
                return {bucket for bucket, amount in ask.amounts.items() if amount}
            case PercentAsk():
                return {"product", "shipping"} if ask.include_shipping else {"product"}
            case LinesAsk():
                return {self.ledger.catalogue[a.line_id].bucket for a in ask.lines}
        raise AssertionError(ask)

    def _reason_room(self, reason: str, amount: int) -> bool:
        """Whether `amount` more for this reason stays within its caps, counting what the
        reason already holds on the order (held, pending, released)."""
        rule_ = POLICY.reason(reason)
        total = self.ledger.held_for_reason(reason) + amount
        if rule_.max_amount is not None and total > minor(rule_.max_amount):
            return False
        return rule_.max_percent_of_order is None or (
            total * 100 <= self.ledger.paid_total() * rule_.max_percent_of_order)

    def _role_room(self, role_name: str, amount: int, leaving_out: str | None = None) -> bool:
        """Whether the role may let `amount` more out: per appeasement, and on top of what
        is already granted (pending release or released) on the order and to the customer
        (one order, one customer here)."""
        role = POLICY.role(role_name)
        granted = self.ledger.granted_on_order(leaving_out) + amount
        return not (
            (role.max_per_appeasement is not None and amount > minor(role.max_per_appeasement))
            or (role.max_per_order is not None and granted > minor(role.max_per_order))
            or (role.max_per_customer is not None and granted > minor(role.max_per_customer))
        )

    def _check_refusal(self, refused: DomainError, ask: Ask, reason: str, role: str,
                       expected: dict[str, int] | str) -> None:
        code = refused.code
        if code == "FORBIDDEN":
            assert role not in POLICY.access["grant"], f"{role} may grant: {refused}"
        elif code == "BUCKET_NOT_ALLOWED_FOR_REASON":
            # a bucket the reason does not allow, or overage with no room left where the
            # reason lets it land
            named = self._requested_buckets(ask)
            nowhere = "overage" in named and isinstance(expected, str)
            assert not named <= POLICY.reason(reason).buckets or nowhere, (
                f"{reason} allows {sorted(named)}: {refused}")
        elif code in BALANCE_REFUSALS:
            assert isinstance(expected, str), (
                f"refused {code} ({refused}) but the ledger finds room: lands {expected}")
        elif code == "REASON_LIMIT_EXCEEDED":
            amount = minor(Decimal(refused.details["requested"]))
            assert not self._reason_room(reason, amount), f"{reason} has room: {refused}"
        elif code == "ROLE_LIMIT_EXCEEDED":
            amount = minor(Decimal(refused.details["requested"]))
            assert POLICY.role(role).above_limit == "reject", f"{role} holds: {refused}"
            assert not self._role_room(role, amount), f"{role} has room: {refused}"
        else:
            raise AssertionError(f"unexpected refusal {code}: {refused}")

    def _check_decision(self, decision: Decision, ask: Ask, reason: str, role: str,
                        expected: dict[str, int] | str) -> None:
        ledger = self.ledger
        pieces = decision.allocation.pieces
        net = ledger.taxation == "net"
        assert role in POLICY.access["grant"], f"{role} may not grant, yet it did"
        # the ledger agrees there was room for it
        assert not isinstance(expected, str), f"accepted, but the ledger says {expected}"
        # pieces add up to the decision and none is negative
        total = Money(sum(p.gross for p in pieces), sum(p.tax for p in pieces))
        assert (total.gross, total.tax) == (decision.allocation.total.gross,
                                            decision.allocation.total.tax)
        assert decision.amount == major(total.gross)
        assert all(0 <= p.tax <= p.gross for p in pieces), pieces
        # each piece lands on a creditable line of a bucket the reason allows
        allowed = POLICY.reason(reason).buckets
        for piece in pieces:
            line = ledger.catalogue[piece.order_line]
            assert ledger.creditable(line.line_id).gross > 0, (
                f"{piece} lands on {line.line_id}, which has nothing creditable")
            assert line.bucket in allowed, f"{piece} lands on {line.bucket} for {reason}"
            if piece.bucket == "tax":
                assert net and line.bucket in TAX_BEARING and piece.gross == piece.tax, piece
            else:
                assert piece.bucket == line.bucket, piece
        # a piece's tax follows its own rate (gross) or the tax paid pro rata (net), give or
        # take the one minor unit that rounding the line's running total may move
        for piece in pieces:
            line = ledger.catalogue[piece.order_line]
            if piece.bucket == "tax":
                continue
            if net:
                ceiling = half_up(Decimal(piece.net) * line.tax / (line.gross - line.tax))
            else:
                ceiling = half_up(Decimal(piece.gross) * line.rate / (100 + line.rate))
            assert piece.tax <= ceiling + 1, f"{piece}: tax above {ceiling} for its amount"
        # a unit price x quantity keeps its units
        if isinstance(ask, LinesAsk):
            units = {a.line_id: a.quantity if a.unit_amount is not None else None
                     for a in ask.lines}
            assert all(piece.quantity == units[piece.order_line] for piece in pieces), pieces
        # the split is the ledger's: by creditable value, largest remainder
        landed: Counter[str] = Counter()
        for piece in pieces:
            landed[piece.order_line] += piece.gross if piece.bucket == "tax" or not net \
                else piece.net
        assert dict(landed) == expected, f"landed {dict(landed)}, ledger {expected}"
        # no piece pushes its line over: refunded + appeased + under return <= paid, gross
        # and tax apart (an OMS refund of appeased money may have put a line's tax over
        # already: then a piece brings no more tax)
        new: dict[str, Money] = {}
        for piece in pieces:
            new[piece.order_line] = new.get(piece.order_line, Money()) + Money(piece.gross,
                                                                              piece.tax)
        for line_id, added in new.items():
            paid = ledger.paid(line_id)
            used = (ledger.oms_refunded(line_id) + ledger.appeased(line_id) + added
                    + ledger.under_return(line_id))
            assert used.gross <= paid.gross and (used.tax <= paid.tax or not added.tax), (
                f"{line_id}: paid {paid}, refunded+appeased+under return would be {used} "
                f"with {added} more")
            assert (ledger.appeased(line_id) + added).tax <= paid.tax, (
                f"{line_id}: appeasements would credit more tax than the {paid.tax} paid")
        for bucket in {ledger.catalogue[line_id].bucket for line_id in new}:
            lines = [line.line_id for line in ledger.lines_in_order() if line.bucket == bucket]
            if any(ledger.over_credit(line_id) for line_id in lines):
                continue
            paid = sum(ledger.paid(line_id).gross for line_id in lines)
            used = sum(ledger.oms_refunded(line_id).gross + ledger.appeased(line_id).gross
                       + new.get(line_id, Money()).gross for line_id in lines)
            assert used <= paid, f"bucket {bucket}: paid {paid}, credited {used}"
        # every limit, cumulative, with the ledger's own figures
        assert self._reason_room(reason, total.gross), (
            f"{reason} cap passed: holds {ledger.held_for_reason(reason)}, "
            f"+{total.gross}, order paid {ledger.paid_total()}")
        within = self._role_room(role, total.gross)
        if decision.status == "PENDINGRELEASE":
            assert within, (f"{role} let {total.gross} out over its limits "
                            f"(granted {ledger.granted_on_order()})")
        else:
            assert decision.status == "PENDINGAPPROVAL", decision.status
            assert POLICY.role(role).above_limit == "hold" and not within, (
                f"{role} held {total.gross} within its limits")

    # --- approvals and the PSP ----------------------------------------------------------
    def _held(self) -> list[str]:
        return sorted(key for key, row in self.rows.items() if row.status == "PENDINGAPPROVAL")

    @precondition(lambda self: self._held())
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self._held()), label="appeasement")
        user = data.draw(st.sampled_from(DECIDERS), label="approver")
        row = self.rows[key]
        role = USERS[user]
        try:
            POLICY.check_may(role, "approve")
            check_may_decide(POLICY.role(role), user, row.requester, row.amount,
                             self._already(row.reason, leaving_out=key))
            target = next_status(row.status, "approve")
        except DomainError as refused:
            event(f"approval refused {refused.code}")
            assert not self._may_approve(key, user), f"{user} may approve {key}: {refused}"
            return
        event("approved")
        assert self._may_approve(key, user), f"{user} approved {key} beyond the rules"
        # approving moves money already held: no line's appeased figure changes
        before = {line: self.ledger.appeased(line) for line in self.ledger.catalogue}
        assert target == self.ledger.move(key, "approve") == "PENDINGRELEASE"
        row.status = "PENDINGRELEASE"
        assert before == {line: self.ledger.appeased(line) for line in self.ledger.catalogue}
        # the approval checks no balance: a line the OMS refunded, cancelled or dropped since
        # the money was held is over-credited by the OMS event, which the balance shows (the
        # over-credit alert), and approving adds nothing to it
        balance = compute_balance(self.state, self._appeased_by_line())
        shown = {line.line.line_id: line for line in balance.lines}
        for line_id in {piece[0] for piece in self.ledger.appeasements[key].pieces}:
            paid = self.ledger.paid(line_id)
            used = self.ledger.oms_refunded(line_id) + self.ledger.appeased(line_id)
            if used.gross > paid.gross:
                event("approved on a line the OMS refunded or dropped since it was held")
                assert shown[line_id].over_credited.gross == used.gross - paid.gross
                assert min(used.gross - paid.gross, self.ledger.appeased(line_id).gross) > 0
            elif line_id in self.ledger.cancelled:
                event("approved on a line the OMS cancelled since it was held")

    def _may_approve(self, key: str, user: str) -> bool:
        held = self.ledger.appeasements[key]
        role = USERS[user]
        return (role in POLICY.access["approve"] and POLICY.role(role).may_approve
                and user != held.requester and self._role_room(role, held.gross, key))

    @precondition(lambda self: self._held())
    @rule(data=st.data())
    def decline(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self._held()), label="appeasement")
        user = data.draw(st.sampled_from(DECIDERS), label="decider")
        row = self.rows[key]
        role = USERS[user]
        may = role in POLICY.access["approve"] and user != row.requester
        try:
            POLICY.check_may(role, "approve")
            check_may_decide(POLICY.role(role), user, row.requester, Decimal(0))
            target = next_status(row.status, "decline")
        except DomainError as refused:
            assert not may, f"{user} may decline {key}: {refused}"
            return
        assert may, f"{user} declined {key}"
        event("declined")
        assert target == self.ledger.move(key, "decline") == "DECLINED"
        row.status = "DECLINED"

    @rule(key=appeasements, decision=st.sampled_from(["approve", "decline"]))
    def decide_on_any(self, key: str, decision: str) -> None:
        """Only a held appeasement can be approved or declined, by anyone."""
        row = self.rows[key]
        try:
            target = next_status(row.status, decision)
        except DomainError as refused:
            assert row.status != "PENDINGAPPROVAL", refused
            assert refused.code == "NOT_PENDING_APPROVAL", refused
            return
        assert row.status == "PENDINGAPPROVAL" and target == self.ledger.move(key, decision)
        event(f"{decision}d from the bundle")
        row.status = target

    @rule(key=appeasements, action=st.sampled_from(["release", "cancel"]))
    def psp_outcome(self, key: str, action: str) -> None:
        row = self.rows[key]
        try:
            target = next_status(row.status, action)
        except DomainError:
            target = "refused"
        try:
            expected = self.ledger.move(key, action)
        except KeyError:
            expected = "refused"
        assert target == expected, f"{action} on {row.status}: {target}, ledger {expected}"
        event(f"psp {action}: {target}")
        if target not in (None, "refused"):
            row.status = target

    def teardown(self) -> None:
        if hasattr(self, "rows"):  # for --hypothesis-show-statistics
            event(f"appeasements accepted in a run: {min(len(self.rows), 5)}")
            event(f"steps in a run: {self.steps // 10 * 10}+")

    # --- after every step -----------------------------------------------------------------
    @invariant()
    def balance_is_the_ledgers(self) -> None:
        ledger = self.ledger
        balance = compute_balance(self.state, self._appeased_by_line())
        shown = {line.line.line_id: line for line in balance.lines}
        for line in balance.lines:
            assert line.creditable.gross >= 0 and line.creditable.tax >= 0, line
        for bucket, totals in balance.buckets.items():
            assert totals.creditable.gross >= 0 and totals.creditable.tax >= 0, bucket
        for line in ledger.lines_in_order():
            line_id = line.line_id
            if line_id in shown:
                # what refunds and appeasements credited beyond what counts as paid
                assert shown[line_id].over_credited.gross == ledger.over_credit(line_id), line_id
            if not ledger.is_listed(line_id):
                if line_id in shown:
                    assert shown[line_id].creditable.gross == 0, (
                        f"{line_id} is no longer in the order but has "
                        f"{shown[line_id].creditable} creditable")
                continue
            assert line_id in shown, f"{line_id} is listed but has no balance"
            held = shown[line_id]
            cancelled = line_id in ledger.cancelled
            got = (held.paid.gross, held.refunded.gross, held.refunded.tax,
                   held.appeased.gross, 0 if cancelled else held.under_return_units,
                   held.creditable.gross, held.creditable.tax)
            creditable = ledger.creditable(line_id)
            refunded = ledger.oms_refunded(line_id)
            want = (ledger.paid(line_id).gross, refunded.gross, refunded.tax,
                    ledger.appeased(line_id).gross,
                    0 if cancelled else ledger.units_under_return(line_id),
                    creditable.gross, creditable.tax)
            assert got == want, (
                f"{line_id} (paid, refunded, refunded tax, appeased, units under return, "
                f"creditable, creditable tax): balance {got}, ledger {want}")
        for bucket in CHARGE_BUCKETS:
            want_total = sum(ledger.creditable(line.line_id).gross
                             for line in ledger.lines_in_order() if line.bucket == bucket)
            assert balance.buckets[bucket].creditable.gross == want_total, bucket
        assert (balance.not_appeasable_reason == "PAYMENT_ERROR") == ledger.payment_error

    @invariant()
    def over_credit_comes_only_from_oms_refunds_of_appeased_money(self) -> None:
        ledger = self.ledger
        for line_id in ledger.listed:
            paid = ledger.paid(line_id)
            refunded = ledger.oms_refunded(line_id)
            assert refunded.gross <= paid.gross and refunded.tax <= paid.tax  # honest OMS
            assert ledger.over_credit(line_id) <= ledger.appeased(line_id).gross
            if ledger.over_credit(line_id):
                event("a line over-credited by an OMS refund of appeased money")
            if ledger.units_under_return(line_id):
                event("units under return")

    @invariant()
    def rows_are_the_ledgers(self) -> None:
        self.steps += 1
        assert {key: row.status for key, row in self.rows.items()} == {
            key: held.status for key, held in self.ledger.appeasements.items()}
        for reason, rule_ in POLICY.reasons.items():
            if rule_.max_amount is not None:
                assert self.ledger.held_for_reason(reason) <= minor(rule_.max_amount), reason


TestMoneyModel = MoneyModel.TestCase
