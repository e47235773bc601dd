"""Order snapshots read straight into msgspec Structs give exactly what the pydantic models
give: the same event, digit for digit and offset for offset. Whatever the Structs do not take
plainly is read by the models, so a bad message is dead-lettered with the same code and words."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from schemas import consumed as wire
from schemas import examples
from schemas.envelope import WireError, read_envelope
from service.service_layer.translate import read_fast, to_event
from tests.builders import encode, jsonrpc, line, order, refund


def read_by_models(value: bytes) -> tuple[Any, ...]:
    try:
        envelope = read_envelope(value)
        return "event", envelope.id, envelope.method, exactly(to_event(envelope))
    except WireError as error:
        return "dead letter", error.code, error.message
    except Exception as error:  # noqa: BLE001 - whatever escapes must escape both ways alike
        return "raised", type(error).__name__


def read_as_projected(value: bytes) -> tuple[Any, ...]:
    """As the projector reads a record: the Structs first, else the models."""
    try:
        fast = read_fast(value)
    except Exception as error:  # noqa: BLE001
        return "raised", type(error).__name__
    if fast is None:
        return read_by_models(value)
    message_id, method, read = fast
    return "event", message_id, method, exactly(read)


def exactly(value: Any) -> Any:
    """`value` as compared here: Decimals by their digits, moments by their offsets too."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__name__, tuple(
            (field.name, exactly(getattr(value, field.name))) for field in dataclasses.fields(value)
        )
    if isinstance(value, Decimal):
        return "Decimal", str(value)
    if isinstance(value, datetime):
        return "datetime", value.isoformat()
    if isinstance(value, tuple | list):
        return tuple(exactly(item) for item in value)
    if isinstance(value, dict):
        return tuple((key, exactly(item)) for key, item in value.items())
    return type(value).__name__, value


# --- documents as the OMS sends them -----------------------------------------------------

texts = st.text(max_size=8)
optional_texts = st.none() | texts
money = st.decimals(min_value=-10**7, max_value=10**7, allow_nan=False, places=2)
amounts = st.one_of(
    money,
    st.integers(-10**6, 10**6),
    st.decimals(min_value=-10**12, max_value=10**12, allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False).filter(lambda d: abs(d.adjusted()) < 40),
)
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                        max_value=timedelta(hours=23, minutes=59)).map(
    lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1))))
moments = st.one_of(
    st.datetimes(timezones=offsets | st.none()).map(datetime.isoformat),
    st.datetimes(timezones=st.just(UTC)).map(
        lambda moment: moment.isoformat().replace("+00:00", "Z")),
    st.from_regex(r"\A[0-9]{4}-[01][0-9]-[0-3][0-9][T t][0-2][0-9]:[0-6][0-9]"
                  r"(:[0-6][0-9](\.[0-9]{1,8})?)?([Zz]|[+-][0-2][0-9](:?[0-7][0-9])?)?\Z"),
)


def optional(draw: st.DrawFn, document: dict[str, Any], key: str, values: Any) -> None:
    """Sets `key` to a drawn value, to null, or leaves it out."""
    choice = draw(st.sampled_from(["value", "value", "null", "absent"]))
    if choice == "value":
        document[key] = draw(values)
    elif choice == "null":
        document[key] = None


@st.composite
def prices(draw: st.DrawFn) -> dict[str, Any]:
    price = {"gross_amount": draw(amounts)}
    for key in ("net_amount", "tax_amount", "tax_rate"):
        optional(draw, price, key, amounts)
    optional(draw, price, "currency", st.sampled_from(["EUR", "USD", "JPY", "KWD", "XXX"]))
    if draw(st.booleans()):
        price["taxes"] = draw(st.lists(st.fixed_dictionaries(
            {}, optional={"type": optional_texts, "amount": st.none() | amounts,
                          "rate": st.none() | amounts}), max_size=2))
    return price


@st.composite
def line_payments(draw: st.DrawFn) -> dict[str, Any]:
    payment = {"gross_amount": draw(amounts)}
    for key in ("net_amount", "tax_amount", "tax_rate"):
        optional(draw, payment, key, amounts)
    for key in ("payment_reference", "currency", "status"):
        optional(draw, payment, key, st.sampled_from(["CAPTURED", "PAID", "EUR", "PAY-1"]) | texts)
    return payment


@st.composite
def order_lines(draw: st.DrawFn) -> dict[str, Any]:
    built = {"id": draw(texts), "line_number": draw(st.integers(-5, 10**20)),
             "product_type": draw(st.sampled_from(["PHYSICAL", "SHIPPING", "FEE"])),
             "sku": draw(texts), "amount": draw(prices())}
    if draw(st.booleans()):
        built["quantity"] = draw(st.integers(0, 10**6))
    for key in ("product_name", "payment_reference", "status", "status_reason"):
        optional(draw, built, key, texts)
    optional(draw, built, "payments", st.lists(line_payments(), max_size=2))
    optional(draw, built, "custom_attributes", st.lists(
        st.fixed_dictionaries({"name": texts}, optional={"value": st.none() | texts | money}),
        max_size=2))
    return built


@st.composite
def orders(draw: st.DrawFn) -> dict[str, Any]:
    built = {"id": draw(texts), "store": draw(texts),
             "lines": draw(st.lists(order_lines(), max_size=3))}
    for key in ("status", "status_reason", "language", "vat_country"):
        optional(draw, built, key, texts)
    for key in ("status_date", "origin_date"):
        optional(draw, built, key, moments)
    if draw(st.booleans()):
        built["customer"] = draw(st.fixed_dictionaries(
            {}, optional={"id": optional_texts, "type": optional_texts, "segment": optional_texts}))
    built["addresses"] = draw(st.lists(st.fixed_dictionaries(
        {}, optional={"reference": optional_texts, "email": optional_texts}), max_size=2))
    built["payments"] = draw(st.lists(st.fixed_dictionaries({}, optional={
        "reference": optional_texts,
        "currency": st.sampled_from(["EUR", "USD", "JPY", "KWD", "eur", " EUR", "ZZZ", "", None]),
        "transactions": st.lists(st.fixed_dictionaries({}, optional={
            "payment_method": optional_texts, "amount": st.none() | amounts,
            "gateway_information": st.none() | st.fixed_dictionaries({}, optional={
                "transaction_id": optional_texts, "authorization_status": optional_texts}),
        }), max_size=2),
    }), max_size=2))
    return built


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(st.sampled_from([wire.ORDER_CREATED, wire.ORDER_UPDATED]))
    message_id = draw(texts | st.integers(-(2**70), 2**70))
    return {"jsonrpc": "2.0", "id": message_id, "method": method,
            "params": {"order": draw(orders())}}


# --- the same documents, bent ------------------------------------------------------------

def paths(document: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*at, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*at, index))
    return found


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | money | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
odd_values = st.one_of(
    json_values,
    st.sampled_from([
        "", "1", "12.10", " 1.5", "1_000", "NaN", "Infinity", "-0", "1e3", "0x10", "abc",
        "2026-11-20", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00+01:60", "2026-11-20 10:00:00",
        1700000000, Decimal("1700000000.5"), Decimal("5.0"), Decimal("1E+2"), 2**63, -(2**64),
        Decimal("1E+999999"), Decimal("-1E-999999"), Decimal("1" * 5000), 10**40, True, [], {},
    ]).map(copy.deepcopy),  # a fresh [] and {} each time: a bent message may add to them
)
#: Bytes put raw into a string: invalid UTF-8, an encoded surrogate, and a valid "é".
raw_bytes = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc3\xa9", b"\\ud800"])
RAW = "@@raw@@"


@st.composite
def bent_messages(draw: st.DrawFn) -> bytes:
    message = draw(messages())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from(paths(message)))
        parent, key = _parent(message, at)
        how = draw(st.sampled_from(["replace", "replace", "delete", "extra", "raw"]))
        if how == "replace" and parent is not None:
            parent[key] = draw(odd_values)
        elif how == "delete" and isinstance(parent, dict):
            del parent[key]
        elif how == "extra" and isinstance(_get(message, at), dict):
            _get(message, at)[draw(st.sampled_from(["extra", "specversion", "return"]) | texts)] = (
                draw(odd_values))
        elif how == "raw" and isinstance(_get(message, at), dict):
            _get(message, at)["note"] = RAW
    body = encode(message, ascii_only=draw(st.booleans()))
    body = body.replace(f'"{RAW}"'.encode(), b'"' + draw(raw_bytes) + b'"')
    if draw(st.integers(0, 9)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    return body


def _get(document: Any, at: tuple[Any, ...]) -> Any:
    for key in at:
        document = document[key]
    return document


def _parent(document: Any, at: tuple[Any, ...]) -> tuple[Any, Any]:
    return (None, None) if not at else (_get(document, at[:-1]), at[-1])


# --- the properties ----------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(messages())
def test_an_order_snapshot_reads_as_the_models_read_it(message):
    # given an order snapshot as the OMS may send it
    body = encode(message)
    event("read by the Structs" if read_fast(body) else "read by the models")
    # when the projector reads it, then it has what the pydantic models make of it
    assert read_as_projected(body) == read_by_models(body)


@settings(max_examples=500, deadline=None)
@given(bent_messages())
def test_a_bent_snapshot_reads_as_the_models_read_it_or_is_refused_alike(body):
    # given a snapshot with wrong types, missing or extra fields, odd numbers or bytes
    # when the projector reads it, then the event, or the dead letter's code and words, are
    # those of the pydantic models
    event("read by the Structs" if read_fast(body) else "read by the models")
    assert read_as_projected(body) == read_by_models(body)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([wire.ORDER_CREATED, wire.ORDER_UPDATED]), st.data())
def test_a_plain_snapshot_is_read_by_the_structs(method, data):
    # given a snapshot in the plain form: amounts as numbers, moments in RFC 3339
    lines = [line(f"L{n}", n, str(data.draw(st.decimals(0, 10**6, places=2))), "0.00")
             for n in range(1, data.draw(st.integers(0, 4)) + 1)]
    body = encode(jsonrpc(method, {"order": order("O1", lines)}))
    # when it is read, then the Structs read it, and the models agree
    assert read_fast(body) is not None
    assert read_as_projected(body) == read_by_models(body)


def test_the_example_order_is_read_by_the_structs():
    body = json.dumps(examples.request(wire.ORDER_CREATED, {"order": examples.order()}, "m1"))
    body = body.encode()
    assert read_fast(body) is not None
    assert read_as_projected(body) == read_by_models(body)


def test_a_snapshot_longer_than_the_digits_python_converts_is_read_by_the_structs():
    # given an order of 60 lines, longer than the most digits one integer may have
    lines = [line(f"L{n}", n, "19.99", "3.19") for n in range(1, 61)]
    body = encode(jsonrpc(wire.ORDER_CREATED, {"order": order("O1", lines)}))
    assert len(body) > sys.get_int_max_str_digits()
    # when it is read, then the Structs read it, and the models agree
    assert read_fast(body) is not None
    assert read_as_projected(body) == read_by_models(body)


@pytest.mark.parametrize(
    "body",
    [
        encode(jsonrpc(wire.REFUND_UPDATED, {"refund": refund("O1", "CN1", [("L1", "1", "0")])})),
        encode(jsonrpc(wire.LINE_CANCELLED, {"order_id": "O1", "order_line_id": "L1"})),
        b'{"specversion": "1.0", "id": "e1", "type": "magento.sales.order_management.created",'
        b' "data": {"order": {"id": "O1", "store": "s"}}}',
        b'{"specversion": "1.0", "jsonrpc": "2.0", "id": "e1", "type": "t.x",'
        b' "method": "magento.sales.order_management.created", "params": {"order": {"id": "O1",'
        b' "store": "s"}}}',
    ],
)
def test_other_messages_and_cloudevents_are_left_to_the_models(body):
    assert read_fast(body) is None


@pytest.mark.parametrize(
    "body",
    [
        # the first of two keys is not the one the models read
        b'{"jsonrpc": "2.0", "id": "m", "method": "x", "params": {"order": {"id": "O1",'
        b' "store": "s"}}, "method": "magento.sales.order_management.created"}',
        b'{"jsonrpc": "2.0", "id": "m", "method": "magento.sales.order_management.created",'
        b' "params": {"order": {"id": "O1", "store": "s", "lines": 5,'
        b' "lines": []}}}',
        b'{"jsonrpc": "2.0", "id": "m", "method": "magento.sales.order_management.created",'
        b' "params": {"order": {"id": "O1", "store": "s", "lines": []}},'
        b' "params": {"order": {"id": "O2", "store": "s"}}}',
        # an integer of more digits than Python converts, where nothing reads it
        b'{"jsonrpc": "2.0", "id": "m", "method": "magento.sales.order_management.created",'
        b' "params": {"order": {"id": "O1", "store": "s", "x": '
        + b"1" * (sys.get_int_max_str_digits() + 1) + b"}}}",
        # a string that is not UTF-8, where nothing reads it
        b'{"jsonrpc": "2.0", "id": "m", "method": "magento.sales.order_management.created",'
        b' "params": {"order": {"id": "O1", "store": "s", "x": "\xff"}}}',
    ],
)
def test_duplicate_keys_huge_integers_and_bad_bytes_read_as_the_models_read_them(body):
    assert read_as_projected(body) == read_by_models(body)


@pytest.mark.parametrize("depth", range(0, 1000, 7))
def test_deep_nesting_reads_as_the_models_read_it(depth):
    # given a snapshot carrying an extra field nested `depth` arrays deep
    body = (b'{"jsonrpc": "2.0", "id": "m", "method": "magento.sales.order_management.created",'
            b' "params": {"order": {"id": "O1", "store": "s", "x": '
            + b"[" * depth + b"]" * depth + b"}}}")
    # then the Structs take it only where the models take it too
    assert read_as_projected(body) == read_by_models(body)
