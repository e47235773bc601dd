"""The balance rules, on plain values: no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from service.domain.balance import Amounts, compute_balance
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
           refund_type: str = "Return", rma: str | None = None,
           when: int | None = None) -> OmsRefundUpdated:
    return OmsRefundUpdated(
        "O1", credit_note, client, refund_type, status,
        tuple(RefundLineAmount(line, D(gross), D(tax)) for line, gross, tax in pieces), rma,
        None if when is None else datetime(2026, 11, when, tzinfo=UTC),
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


# --- one credit note's updates merge ----------------------------------------------------


def test_a_status_only_update_of_a_credit_note_keeps_its_lines():
    # given a 100.00 line refunded in full by CN-1, pending release
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36")),
                        refund("CN-1", "PENDINGRELEASE", ("L1", "100.00", "17.36")))
    # when the OMS releases CN-1 with a status-only update (no lines, no type, no rma)
    state.apply(OmsRefundUpdated("O1", "CN-1", "oms", None, "RELEASED", ()), RULES)
    # then the refunded money still counts, and the note keeps what it was
    line = compute_balance(state).lines[0]
    assert (line.refunded.gross, line.creditable.gross) == (10000, 0)
    assert state.refunds["CN-1"].refund_type == "Return"
    assert state.refunds["CN-1"].status == "RELEASED"


def test_a_status_only_failure_of_a_credit_note_gives_its_lines_back():
    # given CN-1 released for 30.00 on a 100.00 line
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36")),
                        refund("CN-1", "RELEASED", ("L1", "30.00", "5.21")))
    # when a status-only update says CN-1 FAILED
    state.apply(refund("CN-1", "FAILED"), RULES)
    # then the 30.00 is creditable again; a later status-only update counts it once more
    assert compute_balance(state).lines[0].creditable.gross == 10000
    state.apply(refund("CN-1", "RELEASED"), RULES)
    assert compute_balance(state).lines[0].creditable.gross == 7000


def test_an_update_with_lines_replaces_the_lines_of_its_credit_note():
    # given CN-1 for 30.00 on a 100.00 line
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36")),
                        refund("CN-1", "PENDINGRELEASE", ("L1", "30.00", "5.21")))
    # when the OMS corrects CN-1 to 20.00
    state.apply(refund("CN-1", "RELEASED", ("L1", "20.00", "3.47")), RULES)
    # then the note counts 20.00, not 50.00
    assert compute_balance(state).lines[0].refunded.gross == 2000


def test_an_older_update_of_a_credit_note_is_ignored():
    # given CN-1 failed on the 12th, then released on the 14th for 30.00 of a 100.00 line
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36")),
                        refund("CN-1", "FAILED", ("L1", "30.00", "5.21"), when=12),
                        refund("CN-1", "RELEASED", when=14))
    # when the failure of the 12th is delivered again, after the release
    ignored = state.apply(refund("CN-1", "FAILED", when=12), RULES)
    # then it changes nothing: the 30.00 stays refunded, not creditable a second time
    assert ignored is False
    assert state.refunds["CN-1"].status == "RELEASED"
    assert compute_balance(state).lines[0].creditable.gross == 7000
    # and an update of the same moment or later, or without a date, still applies
    assert state.apply(refund("CN-1", "RELEASED", ("L1", "20.00", "3.47"), when=14), RULES)
    assert compute_balance(state).lines[0].creditable.gross == 8000
    assert state.apply(refund("CN-1", "CANCELLED"), RULES)
    assert compute_balance(state).lines[0].creditable.gross == 10000


def test_an_older_update_of_a_return_is_ignored():
    # given 2 units returned, approved on the 13th after a rejection on the 12th
    at = {day: datetime(2026, 11, day, tzinfo=UTC) for day in (12, 13)}
    state = state_after(snapshot(paid_line("L1", 1, "30.00", "4.80", quantity=3)),
                        ReturnUpdated("O1", "RMA1", "REJECTED", (1, 1), status_date=at[12]),
                        ReturnUpdated("O1", "RMA1", "APPROVED", (1, 1), status_date=at[13]))
    # when the rejection of the 12th is delivered again
    ignored = state.apply(ReturnUpdated("O1", "RMA1", "REJECTED", (), status_date=at[12]), RULES)
    # then the 2 units stay under return
    assert ignored is False
    assert compute_balance(state).lines[0].under_return_units == 2
    # and the arrival of the units, which MCOM sends without a date, still counts
    assert state.apply(ReturnUpdated("O1", "RMA1", None, (1, 1), received=True), RULES)
    assert state.returns["RMA1"].status_date == at[13]
    assert compute_balance(state).lines[0].under_return_units == 2


# --- a snapshot is the whole order ---------------------------------------------------------


def test_a_line_a_newer_snapshot_no_longer_lists_is_dropped():
    # given snapshot t1 with L1 100.00
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36"), when=10))
    # when snapshot t2 lists only L9 100.00
    state.apply(snapshot(paid_line("L9", 9, "100.00", "17.36"), when=11), RULES)
    # then L1 is kept for history, dropped, with nothing paid and nothing creditable
    balance = compute_balance(state)
    l1, l9 = balance.lines
    assert l1.line.line_id == "L1" and l1.dropped and l1.line.paid_gross == 10000
    assert (l1.paid.gross, l1.creditable.gross) == (0, 0)
    assert not l9.dropped
    assert (balance.totals.paid.gross, balance.totals.creditable.gross) == (10000, 10000)


def test_a_dropped_line_listed_again_is_no_longer_dropped():
    # given L1 dropped by snapshot t2
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36"), when=10),
                        snapshot(paid_line("L9", 9, "100.00", "17.36"), when=11))
    # when an older snapshot still listing L1 arrives late, it changes nothing
    state.apply(snapshot(paid_line("L1", 1, "100.00", "17.36"), when=10), RULES)
    assert compute_balance(state).lines[0].dropped
    # when snapshot t3 lists L1 again
    state.apply(snapshot(paid_line("L1", 1, "100.00", "17.36"),
                         paid_line("L9", 9, "100.00", "17.36"), when=12), RULES)
    # then L1 is creditable again
    l1 = compute_balance(state).lines[0]
    assert not l1.dropped and l1.creditable.gross == 10000


def test_a_dropped_line_holds_no_units_under_return():
    # given a unit of L1 under return
    state = state_after(snapshot(paid_line("L1", 1, "30.00", "4.80", quantity=3), when=10),
                        ReturnUpdated("O1", "RMA1", "APPROVED", (1,)))
    # when a newer snapshot drops L1
    state.apply(snapshot(paid_line("L9", 9, "10.00", "1.60"), when=11), RULES)
    # then L1 has no value under return either
    l1 = compute_balance(state).lines[0]
    assert (l1.under_return_units, l1.under_return.gross, l1.creditable.gross) == (0, 0, 0)


def test_dropping_an_appeased_line_over_credits_it_by_the_appeased_money():
    # given L1 100.00 of which 30.00 were appeased
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36"),
                                 paid_line("L2", 2, "50.00", "8.68"), when=10))
    appeased = {"L1": Amounts(3000, 521)}
    assert over_credit(state, appeased) == {}
    # when a newer snapshot no longer lists L1
    state.apply(snapshot(paid_line("L2", 2, "50.00", "8.68"), when=11), RULES)
    # then the 30.00 appeased on L1 is over-credited
    assert over_credit(state, appeased) == {"L1": 3000}


def test_the_over_credit_an_alert_reports_is_only_appeased_money():
    # given a 100.00 line the OMS refunds for 120.00 (its own over-refund)
    state = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36")),
                        refund("CN-1", "RELEASED", ("L1", "120.00", "20.83")))
    # then nothing appeased was touched: no over-credit to report
    assert over_credit(state, {}) == {}
    # when 30.00 had been appeased on it, only those 30.00 are reported
    assert over_credit(state, {"L1": Amounts(3000, 521)}) == {"L1": 3000}
    # and a refund of 80.00 on a line appeased 30.00 reports the 10.00 credited twice
    partly = state_after(snapshot(paid_line("L1", 1, "100.00", "17.36")),
                         refund("CN-1", "RELEASED", ("L1", "80.00", "13.88")))
    assert over_credit(partly, {"L1": Amounts(3000, 521)}) == {"L1": 1000}


# --- units leave "under return" one by one -----------------------------------------------


def two_returned_lines() -> OrderState:
    """L1 and L2, one unit each, both under RMA-1 APPROVED."""
    return state_after(snapshot(paid_line("L1", 1, "60.00", "10.41"),
                                paid_line("L2", 2, "40.00", "6.94")),
                       ReturnUpdated("O1", "RMA-1", "APPROVED", (1, 2)))


def test_a_return_refund_of_one_line_keeps_the_other_lines_of_the_rma_under_return():
    # given RMA-1 holding one unit of L1 and one of L2
    state = two_returned_lines()
    # when the OMS refunds only L1 against RMA-1
    state.apply(refund("CN-1", "RELEASED", ("L1", "60.00", "10.41"), rma="RMA-1"), RULES)
    # then L1's unit left the return, L2's is still on its way back
    l1, l2 = compute_balance(state).lines
    assert (l1.under_return_units, l1.creditable.gross) == (0, 0)
    assert (l2.under_return_units, l2.under_return.gross, l2.creditable.gross) == (1, 4000, 0)


def test_each_refund_line_entry_releases_one_unit_of_its_line():
    # given 3 units of L1, 2 of them under RMA-1
    state = state_after(snapshot(paid_line("L1", 1, "30.00", "4.80", quantity=3)),
                        ReturnUpdated("O1", "RMA-1", "APPROVED", (1, 1)))
    # when one unit is refunded against RMA-1
    state.apply(refund("CN-1", "RELEASED", ("L1", "10.00", "1.60"), rma="RMA-1"), RULES)
    # then one unit is still under return
    assert compute_balance(state).lines[0].under_return_units == 1
    # when the second unit is refunded, by another credit note with a status-only update
    state.apply(refund("CN-2", "PENDINGRELEASE", ("L1", "10.00", "1.60"), rma="RMA-1"), RULES)
    state.apply(OmsRefundUpdated("O1", "CN-2", "oms", None, "RELEASED", ()), RULES)
    # then no unit is under return, and the third unit is creditable
    line = compute_balance(state).lines[0]
    assert (line.under_return_units, line.creditable.gross) == (0, 1000)


def test_a_return_refund_without_an_rma_releases_units_in_rma_order():
    # given L2 under RMA-1 and RMA-2 (one unit each of its 2)
    state = state_after(snapshot(paid_line("L2", 2, "40.00", "6.94", quantity=2)),
                        ReturnUpdated("O1", "RMA-2", "APPROVED", (2,)),
                        ReturnUpdated("O1", "RMA-1", "APPROVED", (2,)))
    # when a Return refund without an rma refunds one unit of L2, and one against RMA-1
    state.apply(refund("CN-1", "RELEASED", ("L2", "20.00", "3.47")), RULES)
    assert compute_balance(state).lines[0].under_return_units == 1
    state.apply(refund("CN-2", "RELEASED", ("L2", "20.00", "3.47"), rma="RMA-1"), RULES)
    # then both units are out: the rma-less one took RMA-2's, not RMA-1's twice
    assert compute_balance(state).lines[0].under_return_units == 0


def test_failed_or_non_return_refunds_release_no_unit():
    # given RMA-1 holding one unit of L1 and one of L2
    state = two_returned_lines()
    # when a FAILED return refund and a cancellation refund of L1 arrive
    state.apply(refund("CN-1", "FAILED", ("L1", "60.00", "10.41"), rma="RMA-1"), RULES)
    state.apply(refund("CN-2", "RELEASED", ("L1", "1.00", "0.17"),
                       refund_type="Cancellation", rma="RMA-1"), RULES)
    # then both units are still under return
    assert [line.under_return_units for line in compute_balance(state).lines] == [1, 1]


def test_a_closed_return_releases_every_unit_it_held():
    # given RMA-1 holding L1 and L2, L1 refunded
    state = two_returned_lines()
    state.apply(refund("CN-1", "RELEASED", ("L1", "60.00", "10.41"), rma="RMA-1"), RULES)
    # when the return is closed
    state.apply(ReturnUpdated("O1", "RMA-1", "CLOSED", ()), RULES)
    # then L2 is creditable again
    assert compute_balance(state).lines[1].creditable.gross == 4000
