"""Reading MCOM messages: envelopes, exact amounts, extensibility, and the codes for bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas import consumed as wire
from schemas.envelope import WireError, read_envelope
from service.domain.events import OrderSnapshotReceived
from service.service_layer.translate import to_event
from tests.builders import encode, jsonrpc, line, order


def order_message(**changes) -> dict:
    message = jsonrpc(wire.ORDER_CREATED, {"order": order("O1", [line("L1", 1, "19.99", "3.19")])})
    message["params"]["order"].update(changes)
    return message


def test_json_numbers_become_exact_decimals():
    # given an MCOM order whose amounts are JSON numbers
    body = encode(order_message())
    assert b'"gross_amount": 19.99' in body
    # when it is read
    event = to_event(read_envelope(body))
    # then the amount is exactly 19.99, never a binary float
    assert isinstance(event, OrderSnapshotReceived)
    assert event.lines[0].gross == Decimal("19.99")


def test_unknown_fields_are_kept_not_fatal():
    message = order_message(loyalty_tier="gold")
    message["params"]["order"]["lines"][0]["warranty"] = {"years": 2}
    event = to_event(read_envelope(encode(message)))
    assert event.order_id == "O1"


def test_a_cloudevent_is_read_as_its_type_and_data():
    envelope = read_envelope(
        b'{"specversion": "1.0", "id": "e1", "type": "t.x", "source": "/s", "data": {"a": 1.5}}'
    )
    assert (envelope.id, envelope.method, envelope.params) == ("e1", "t.x", {"a": Decimal("1.5")})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe", "MALFORMED_JSON"),
        (b"{nope", "MALFORMED_JSON"),
        (b"[1, 2]", "INVALID_ENVELOPE"),
        (b'{"jsonrpc": "1.0", "id": "1", "method": "m"}', "INVALID_ENVELOPE"),
        (b'{"jsonrpc": "2.0", "method": "m"}', "INVALID_ENVELOPE"),
        (None, "MALFORMED_JSON"),
    ],
)
def test_unreadable_envelopes_have_specific_codes(body, code):
    with pytest.raises(WireError) as raised:
        read_envelope(body)
    assert raised.value.code == code


def test_schema_errors_name_the_field():
    message = order_message()
    del message["params"]["order"]["lines"][0]["amount"]
    with pytest.raises(WireError) as raised:
        to_event(read_envelope(encode(message)))
    assert raised.value.code == "SCHEMA_VALIDATION"
    assert "order.lines.0.amount" in raised.value.message


def test_an_unknown_currency_is_refused():
    message = order_message()
    message["params"]["order"]["payments"][0]["currency"] = "ZZZ"
    with pytest.raises(WireError) as raised:
        to_event(read_envelope(encode(message)))
    assert raised.value.code == "UNKNOWN_CURRENCY"


def test_an_unknown_method_is_refused():
    with pytest.raises(WireError) as raised:
        to_event(read_envelope(encode(jsonrpc("magento.sales.order_management.deleted", {}))))
    assert raised.value.code == "UNKNOWN_METHOD"


def test_refund_costs_as_strings_or_numbers_and_tax_from_net():
    message = jsonrpc(wire.REFUND_UPDATED, {"refund": {
        "order_id": "O1", "credit_note_number": "CN1", "status": {"code": "RELEASED"},
        "lines": [{"order_line": "L1", "payments": [
            {"ref": "P", "details": {"cost_gross": "12.10", "cost_net": 10}},
            {"ref": "P", "details": {"cost_gross": Decimal("1.21"), "cost_vat": "0.21"}},
        ]}]}})
    event = to_event(read_envelope(encode(message)))
    assert event.lines[0].gross == Decimal("13.31")
    assert event.lines[0].tax == Decimal("2.31")
