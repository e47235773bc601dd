"""Whatever the OMS sends, in whatever order, no bucket's creditable amount goes below zero."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.balance import ZERO, Amounts, compute_balance
from service.domain.events import (
    LinePayment,
    OmsRefundUpdated,
    OrderLineCancelled,
    OrderSnapshotReceived,
    RefundLineAmount,
    ReturnUpdated,
    SnapshotLine,
)
from service.domain.over_credit import over_credit
from service.domain.projection import OrderState, ProjectionRules

LINE_IDS = ["L1", "L2", "L3"]
cents = st.integers(min_value=0, max_value=100_000).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def snapshot_lines(draw):
    """Some of the lines: a snapshot that leaves one out drops it."""
    listed = draw(st.sets(st.sampled_from(LINE_IDS)))
    lines = []
    for number, line_id in enumerate(LINE_IDS, start=1):
        if line_id not in listed:
            continue
        gross = draw(cents)
        tax = min(draw(cents), gross)
        status = draw(st.sampled_from(["CAPTURED", "AUTHORIZED", "PAID"]))
        lines.append(SnapshotLine(
            line_id, number, draw(st.sampled_from(["PHYSICAL", "SHIPPING", "FEE", "HANDLING"])),
            "SKU", draw(st.integers(1, 4)), gross, tax, Decimal(21),
            status=draw(st.sampled_from(["ALLOCATED", "CANCELLED"])),
            payments=(LinePayment(status, gross, tax),),
        ))
    return tuple(lines)


snapshots = st.builds(
    lambda lines, status, days: OrderSnapshotReceived(
        "O1", "eu-web", "EUR", lines, status=status,
        status_date=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=days),
    ),
    snapshot_lines(), st.sampled_from(["PROCESSING", "ERROR", "SHIPPED"]), st.integers(0, 5),
)
refunds = st.builds(
    lambda note, status, pieces, kind, rma: OmsRefundUpdated(
        "O1", note, "oms", kind, status, pieces, rma
    ),
    st.sampled_from(["CN1", "CN2", "CN3"]),
    st.sampled_from(["PENDINGRELEASE", "RELEASED", "FAILED", "CANCELLED", "PENDING RELEASE"]),
    st.lists(st.builds(lambda line, g, t: RefundLineAmount(line, g, min(g, t)),
                       st.sampled_from(LINE_IDS), cents, cents), max_size=3).map(tuple),
    st.sampled_from(["Return", "Cancellation", "Appeasement"]),
    st.sampled_from([None, "RMA1", "RMA2"]),
)
status_only_updates = st.builds(
    lambda note, status: OmsRefundUpdated("O1", note, "oms", None, status, ()),
    st.sampled_from(["CN1", "CN2", "CN3"]),
    st.sampled_from(["PENDINGRELEASE", "RELEASED", "FAILED", "CANCELLED"]),
)
partial_return_refunds = st.builds(
    lambda note, status, line_ids, rma: OmsRefundUpdated(
        "O1", note, "oms", "Return", status,
        tuple(RefundLineAmount(line, Decimal("1.00"), Decimal("0.17")) for line in line_ids), rma,
    ),
    st.sampled_from(["CN1", "CN2", "CN3"]),
    st.sampled_from(["PENDINGRELEASE", "RELEASED", "FAILED"]),
    st.lists(st.sampled_from(LINE_IDS), min_size=1, max_size=2).map(tuple),
    st.sampled_from(["RMA1", "RMA2", None]),
)
returns = st.builds(
    lambda rma, status, numbers, received: ReturnUpdated("O1", rma, status, numbers, received),
    st.sampled_from(["RMA1", "RMA2"]),
    st.sampled_from(["REQUESTED", "APPROVED", "REJECTED", "CLOSED", None]),
    st.lists(st.integers(1, 3), max_size=4).map(tuple),
    st.booleans(),
)
cancellations = st.builds(lambda line: OrderLineCancelled("O1", line), st.sampled_from(LINE_IDS))
events = st.lists(
    st.one_of(snapshots, refunds, status_only_updates, partial_return_refunds, returns,
              cancellations),
    min_size=1, max_size=12,
)
appeased_amounts = st.dictionaries(
    st.sampled_from(LINE_IDS),
    st.integers(0, 100_000).flatmap(lambda g: st.builds(Amounts, st.just(g), st.integers(0, g))),
)


def state_after(events, rules=None) -> OrderState:
    state = OrderState("O1")
    for event in events:
        state.apply(event, rules or ProjectionRules())
    return state


@settings(max_examples=300, deadline=None)
@given(events=events, appeased=appeased_amounts)
def test_no_bucket_is_ever_below_zero_and_totals_add_up(events, appeased):
    # given any sequence of OMS events, in any order, and any appeased money
    state = state_after(events)
    if not state.known:
        return
    # when the balance is computed
    balance = compute_balance(state, appeased)
    # then every line and bucket is within [0, paid] with net + tax = gross
    for line in balance.lines:
        assert 0 <= line.creditable.gross <= max(line.paid.gross, 0)
        assert 0 <= line.creditable.tax <= line.creditable.gross
        assert line.creditable.net + line.creditable.tax == line.creditable.gross
        assert 0 <= line.under_return_units <= line.line.quantity
        # a line the latest snapshot left out has nothing paid, creditable or under return
        if line.dropped:
            assert (line.paid, line.creditable, line.under_return_units) == (ZERO, ZERO, 0)
    # and an alert only ever reports appeased money
    for line_id, amount in over_credit(state, appeased).items():
        assert 0 < amount <= appeased[line_id].gross
    for totals in balance.buckets.values():
        assert totals.creditable.gross >= 0
    assert balance.totals.creditable.gross == sum(
        totals.creditable.gross for totals in balance.buckets.values()
    )
    if not balance.appeasable:
        assert balance.totals.creditable.gross == 0


@settings(max_examples=300, deadline=None)
@given(events=events)
def test_units_leave_a_return_only_with_their_own_lines_refund(events):
    # given any sequence of OMS events
    state = state_after(events)
    if not state.known:
        return
    # when the balance is computed
    for line in compute_balance(state).lines:
        if line.cancelled or line.dropped:
            continue
        # then a line's units under return are those its open returns hold, less at most one
        # per entry of its own counting Return refunds: never fewer
        held = sum(
            rma.line_numbers.count(line.line.line_number)
            for rma in state.returns.values()
            if rma.open
        )
        own_refunds = sum(
            1
            for refund in state.refunds.values()
            if refund.is_return and refund.counts
            for piece in refund.lines
            if piece.order_line == line.line.line_id
        )
        most = min(held, line.line.quantity)
        assert max(most - own_refunds, 0) <= line.under_return_units <= most
