"""The balance rules, on plain values: no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

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

RULES = ProjectionRules()


def snapshot(*lines: SnapshotLine, status: str = "PROCESSING", when: int = 10,
             currency: str = "EUR", store: str = "eu-web") -> OrderSnapshotReceived:
    return OrderSnapshotReceived(
        order_id="O1", store=store, currency=currency, lines=lines, status=status,
        status_date=datetime(2026, 11, when, tzinfo=UTC),
        authorization_status={"PAY-1": "CAPTURED"},
    )


def paid_line(line_id: str, number: int, gross: str, tax: str, *, quantity: int = 1,
              product_type: str = "PHYSICAL", status: str = "CAPTURED") -> SnapshotLine:
    return SnapshotLine(
        line_id, number, product_type, f"SKU-{line_id}", quantity, D(gross), D(tax), D("21"),
        payment_reference="PAY-1", payments=(LinePayment(status, D(gross), D(tax)),),
    )


def refund(credit_note: str, status: str, *pieces: tuple[str, str, str], client: str = "oms",
           refund_type: str = "Return", rma: str | None = None) -> OmsRefundUpdated:
    return OmsRefundUpdated(
        "O1", credit_note, client, refund_type, status,
        tuple(RefundLineAmount(line, D(gross), D(tax)) for line, gross, tax in pieces), rma,
    )


def state_after(*events) -> OrderState:
    state = OrderState("O1")
    for event in events:
        state.apply(event, RULES)
    return state


def test_shipping_lines_are_their_own_bucket():
    # given a product line and a SHIPPING line
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36"),
                                 paid_line("L2", 2, "5.90", "1.02", product_type="SHIPPING")))
    # when the balance is computed
    balance = compute_balance(state)
    # then each bucket holds its own line
    assert balance.buckets["product"].creditable.gross == 10000
    assert balance.buckets["shipping"].creditable.gross == 590
    assert balance.buckets["shipping"].creditable.net == 488


def test_authorised_but_not_captured_money_is_not_creditable():
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36", status="AUTHORIZED")))
    balance = compute_balance(state)
    assert balance.totals.creditable.gross == 0
    assert balance.not_appeasable_reason == "ORDER_NOT_PAID"


def test_counting_refunds_reduce_and_failed_ones_give_back():
    # given a 100.00 line with a pending refund of 30.00 spelled "PENDING RELEASE"
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36")),
                        refund("CN1", "PENDING RELEASE", ("L1", "30.00", "5.21")))
    assert compute_balance(state).totals.creditable.gross == 7000
    # when the refund fails
    state.apply(refund("CN1", "FAILED", ("L1", "30.00", "5.21")), RULES)
    # then the 30.00 is creditable again
    assert compute_balance(state).totals.creditable.gross == 10000


def test_the_services_own_refund_events_are_skipped():
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36")),
                        refund("APP-1", "PENDINGRELEASE", ("L1", "30.00", "5.21"),
                               client="appeasement-service", refund_type="Appeasement"))
    assert compute_balance(state).totals.refunded.gross == 0


def test_a_refund_before_its_order_counts_once_the_order_arrives():
    # given the refund first, then the order
    state = state_after(refund("CN1", "RELEASED", ("L1", "10.004", "1.6")),
                        snapshot(paid_line("L1", 1, "100.00", "17.36")))
    # then it is rounded to the currency and counted
    assert compute_balance(state).totals.refunded.gross == 1000


def test_over_refunded_line_clamps_at_zero():
    state = state_after(snapshot(paid_line("L1", 1, "10.00", "1.60")),
                        refund("CN1", "RELEASED", ("L1", "12.00", "2.00")))
    line = compute_balance(state).lines[0]
    assert line.creditable.gross == 0 and line.creditable.tax == 0
    assert line.over_credited.gross == 200


def test_an_older_snapshot_is_ignored():
    state = state_after(snapshot(paid_line("L1", 1, "10.00", "1.60"), when=12))
    ignored = state.apply(snapshot(paid_line("L1", 1, "10.00", "1.60", status="AUTHORIZED"),
                                   when=11), RULES)
    assert ignored is False
    assert compute_balance(state).totals.paid.gross == 1000


def test_cancelled_lines_and_payment_errors_have_nothing_creditable():
    state = state_after(snapshot(paid_line("L1", 1, "10.00", "1.60"),
                                 paid_line("L2", 2, "20.00", "3.19")),
                        OrderLineCancelled("O1", "L2"))
    balance = compute_balance(state)
    assert [line.creditable.gross for line in balance.lines] == [1000, 0]
    errored = state_after(snapshot(paid_line("L1", 1, "10.00", "1.60"), status="ERROR"))
    assert compute_balance(errored).totals.creditable.gross == 0
    assert compute_balance(errored).not_appeasable_reason == "PAYMENT_ERROR"


def test_units_under_return_leave_with_a_rejected_return():
    # given 3 units and a return of 2 of them
    state = state_after(snapshot(paid_line("L1", 1, "30.00", "4.80", quantity=3)),
                        ReturnUpdated("O1", "RMA1", "AUTHORIZED", (1, 1)))
    line = compute_balance(state).lines[0]
    assert (line.under_return_units, line.under_return.gross, line.creditable.gross) == (2, 2000, 1000)
    # when the return is rejected
    state.apply(ReturnUpdated("O1", "RMA1", "REJECTED", ()), RULES)
    # then all 3 units are creditable again
    assert compute_balance(state).lines[0].creditable.gross == 3000


def test_a_received_blind_return_holds_its_units():
    state = state_after(snapshot(paid_line("L1", 1, "30.00", "4.80", quantity=3)),
                        ReturnUpdated("O1", "RMA9", None, (1,), received=True))
    assert compute_balance(state).lines[0].under_return_units == 1


def test_yen_and_dinar_amounts_use_their_exponents():
    yen = state_after(snapshot(paid_line("L1", 1, "12980", "1180"), currency="JPY"))
    assert compute_balance(yen).totals.paid.gross == 12980
    dinar = state_after(snapshot(paid_line("L1", 1, "12.345", "0.5"), currency="KWD"))
    assert compute_balance(dinar).totals.paid.gross == 12345


def test_taxation_follows_the_store():
    rules = ProjectionRules(taxation_by_store={"us-web": "net"})
    state = OrderState("O1")
    state.apply(snapshot(paid_line("L1", 1, "10.00", "0.80"), store="us-web"), rules)
    assert state.taxation == "net"
