"""Whatever the OMS sends, in whatever order, no bucket's creditable amount goes below zero."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.balance import compute_balance
from service.domain.events import (
    LinePayment,
    OmsRefundUpdated,
    OrderLineCancelled,
    OrderSnapshotReceived,
    RefundLineAmount,
    ReturnUpdated,
    SnapshotLine,
)
from service.domain.projection import OrderState, ProjectionRules

LINE_IDS = ["L1", "L2", "L3"]
cents = st.integers(min_value=0, max_value=100_000).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def snapshot_lines(draw):
    lines = []
    for number, line_id in enumerate(LINE_IDS, start=1):
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
    st.sampled_from([None, "RMA1"]),
)
returns = st.builds(
    lambda status, numbers, received: ReturnUpdated("O1", "RMA1", status, numbers, received),
    st.sampled_from(["REQUESTED", "APPROVED", "REJECTED", "CLOSED", None]),
    st.lists(st.integers(1, 3), max_size=4).map(tuple),
    st.booleans(),
)
cancellations = st.builds(lambda line: OrderLineCancelled("O1", line), st.sampled_from(LINE_IDS))
events = st.lists(st.one_of(snapshots, refunds, returns, cancellations), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(events=events)
def test_no_bucket_is_ever_below_zero_and_totals_add_up(events):
    # given any sequence of OMS events, in any order
    state = OrderState("O1")
    rules = ProjectionRules()
    for event in events:
        state.apply(event, rules)
    if not state.known:
        return
    # when the balance is computed
    balance = compute_balance(state)
    # then every line and bucket is within [0, paid] with net + tax = gross
    for line in balance.lines:
        assert 0 <= line.creditable.gross <= max(line.paid.gross, 0)
        assert 0 <= line.creditable.tax <= line.creditable.gross
        assert line.creditable.net + line.creditable.tax == line.creditable.gross
    for totals in balance.buckets.values():
        assert totals.creditable.gross >= 0
    assert balance.totals.creditable.gross == sum(
        totals.creditable.gross for totals in balance.buckets.values()
    )
    if not balance.appeasable:
        assert balance.totals.creditable.gross == 0
