"""How OMS updates fold into the balance: credit notes merge, snapshots are the whole order,
return units leave one by one. MCOM messages on the real broker, balance read over HTTP."""

from __future__ import annotations

import pytest

from schemas import consumed as wire
from tests.builders import line, order, refund, return_, unique
from tests.conftest import balance_when, line_of

pytestmark = pytest.mark.integration


async def test_a_status_only_credit_note_update_keeps_the_refunded_lines(api, publish):
    # given a captured order of a 100.00 line and a 20.00 line
    order_id = unique("MERGE")
    lines = [line("L1", 1, "100.00", "17.36"), line("L2", 2, "20.00", "3.47")]
    await publish(wire.ORDER_CREATED, {"order": order(order_id, lines)}, key=order_id)
    # and credit note CN-1 refunding L1 in full, pending release
    credit_note = unique("CN")
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        order_id, credit_note, [("L1", "100.00", "17.36")], status="PENDINGRELEASE")},
        key=order_id)
    await balance_when(api, order_id, lambda b: line_of(b, "L1")["refunded"]["gross"] == "100.00")
    # when the OMS releases CN-1 with a status-only update (no lines, no type, no rma)
    released = refund(order_id, credit_note, [], status="RELEASED")
    released.update(refund_type=None, rma=None)
    await publish(wire.REFUND_UPDATED, {"refund": released}, key=order_id)
    # and another credit note follows it on the same partition
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        order_id, unique("CN"), [("L2", "5.00", "0.87")], refund_type="Cancellation")},
        key=order_id)
    # then L1 stays refunded, nothing of it creditable again
    balance = await balance_when(
        api, order_id, lambda b: line_of(b, "L2")["refunded"]["gross"] == "5.00")
    assert line_of(balance, "L1")["refunded"]["gross"] == "100.00"
    assert line_of(balance, "L1")["creditable"]["gross"] == "0.00"
    assert balance["totals"]["creditable"]["gross"] == "15.00"


async def test_a_line_a_newer_snapshot_no_longer_lists_is_dropped(api, publish):
    # given snapshot t1 with L1 100.00
    order_id = unique("DROP")
    first = order(order_id, [line("L1", 1, "100.00", "17.36")],
                  status_date="2026-11-20T10:00:00Z")
    await publish(wire.ORDER_CREATED, {"order": first}, key=order_id)
    await balance_when(api, order_id)
    # when a newer snapshot t2 lists only L9 100.00
    second = order(order_id, [line("L9", 9, "100.00", "17.36")],
                   status_date="2026-11-21T10:00:00Z")
    await publish(wire.ORDER_UPDATED, {"order": second}, key=order_id)
    # then the order is paid 100.00, all of it creditable on L9
    balance = await balance_when(
        api, order_id, lambda b: any(item["line_id"] == "L9" for item in b["lines"]))
    assert balance["totals"]["paid"]["gross"] == "100.00"
    assert balance["totals"]["creditable"]["gross"] == "100.00"
    # and L1 is kept for history, dropped, with nothing paid or creditable
    dropped = line_of(balance, "L1")
    assert dropped["paid"]["gross"] == "0.00" and dropped["creditable"]["gross"] == "0.00"
    assert dropped["dropped"] is True
    assert line_of(balance, "L9")["dropped"] is False
    # when snapshot t3 lists L1 again
    third = order(order_id, [line("L1", 1, "100.00", "17.36"), line("L9", 9, "100.00", "17.36")],
                  status_date="2026-11-22T10:00:00Z")
    await publish(wire.ORDER_UPDATED, {"order": third}, key=order_id)
    # then L1 is no longer dropped and counts again
    again = await balance_when(api, order_id, lambda b: not line_of(b, "L1")["dropped"])
    assert line_of(again, "L1")["creditable"]["gross"] == "100.00"
    assert again["totals"]["creditable"]["gross"] == "200.00"


async def test_a_partial_return_refund_keeps_the_other_units_of_its_rma_under_return(
    api, publish
):
    # given lines 1 and 2 of one unit each, both returned under RMA-1, approved
    order_id = unique("PRET")
    lines = [line("L1", 1, "60.00", "10.41"), line("L2", 2, "40.00", "6.94")]
    await publish(wire.ORDER_CREATED, {"order": order(order_id, lines)}, key=order_id)
    rma = unique("RMA")
    await publish(wire.RETURN_UPDATED, {"return": return_(order_id, rma, [1, 2], "APPROVED")},
                  key=order_id)
    held = await balance_when(
        api, order_id, lambda b: line_of(b, "L2")["under_return_quantity"] == 1)
    assert held["totals"]["creditable"]["gross"] == "0.00"
    # when the OMS refunds only L1 against RMA-1
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        order_id, unique("CN"), [("L1", "60.00", "10.41")], refund_type="Return", rma=rma)},
        key=order_id)
    # then L1's unit left the return, L2's is still on its way back, not creditable
    balance = await balance_when(
        api, order_id, lambda b: line_of(b, "L1")["refunded"]["gross"] == "60.00")
    assert line_of(balance, "L1")["under_return_quantity"] == 0
    assert line_of(balance, "L2")["under_return_quantity"] == 1
    assert line_of(balance, "L2")["under_return"]["gross"] == "40.00"
    assert line_of(balance, "L2")["creditable"]["gross"] == "0.00"
