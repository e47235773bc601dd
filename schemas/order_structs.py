"""The order snapshot messages as msgspec Structs, read straight from bytes without pydantic.

`schemas.mcom` stays the contract; these Structs mirror its order models field by field and
take only the plain form of each value: an amount as a JSON number, a moment as an RFC 3339
string. `decode_order_message` gives None for anything else (a numeric string, a date alone,
a CloudEvent, another method, bytes the generic reader would refuse), and the message is then
read by the pydantic models, which accept it or name what is wrong.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from schemas.consumed import ORDER_CREATED, ORDER_UPDATED


def _amount(value: Any) -> Decimal:
    """A JSON number as `McomAmount` reads it: the Decimal of its digits."""
    if type(value) is Decimal and value.is_finite():
        return value
    if type(value) is int:
        return Decimal(value)
    raise ValueError("not a JSON number")


def _optional_amount(value: Any) -> Decimal | None:
    return None if value is None else _amount(value)


#: RFC 3339 with the offset as pydantic reads it; the calendar is checked by fromisoformat.
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
)


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if type(value) is str and _MOMENT.fullmatch(value):
        return datetime.fromisoformat(value)
    raise ValueError("not an RFC 3339 moment")


class _Struct(msgspec.Struct, gc=False):
    """Unknown fields are skipped, as McomStruct keeps them unread."""


class CustomAttribute(_Struct):
    name: str
    value: Any = None


class PriceTax(_Struct):
    type: str | None = None
    amount: Any = None
    rate: Any = None

    def __post_init__(self) -> None:
        self.amount = _optional_amount(self.amount)
        self.rate = _optional_amount(self.rate)


class _Amounts(_Struct, kw_only=True):
    # Amounts are read as decode_json reads them (a Decimal, or an int), then checked: a
    # msgspec Decimal would also take a numeric string, which pydantic reads its own way.
    gross_amount: Any
    net_amount: Any = None
    tax_amount: Any = None
    tax_rate: Any = None

    def __post_init__(self) -> None:
        self.gross_amount = _amount(self.gross_amount)
        self.net_amount = _optional_amount(self.net_amount)
        self.tax_amount = _optional_amount(self.tax_amount)
        self.tax_rate = _optional_amount(self.tax_rate)


class Price(_Amounts, kw_only=True):
    taxes: list[PriceTax] = []
    currency: str | None = None


class LinePayment(_Amounts, kw_only=True):
    payment_reference: str | None = None
    currency: str | None = None
    status: str | None = None


class OrderLine(_Struct, kw_only=True):
    id: str
    line_number: int
    product_type: str
    sku: str
    quantity: Annotated[int, msgspec.Meta(ge=0)] = 1
    product_name: str | None = None
    payment_reference: str | None = None
    status: str | None = None
    status_reason: str | None = None
    amount: Price
    payments: list[LinePayment] | None = None
    custom_attributes: list[CustomAttribute] | None = None


class OrderCustomer(_Struct):
    id: str | None = None
    type: str | None = None
    segment: str | None = None


class Address(_Struct):
    reference: str | None = None
    address_type: str | None = None
    email: str | None = None


class GatewayInformation(_Struct):
    transaction_id: str | None = None
    authorization_status: str | None = None


class PaymentTransaction(_Struct):
    payment_method: str | None = None
    amount: Any = None
    gateway_information: GatewayInformation | None = None

    def __post_init__(self) -> None:
        self.amount = _optional_amount(self.amount)


class OrderPayment(_Struct):
    reference: str | None = None
    currency: str | None = None
    transactions: list[PaymentTransaction] = []


class Order(_Struct):
    id: str
    store: str
    status: str | None = None
    status_reason: str | None = None
    status_date: Any = None
    origin_date: Any = None
    language: str | None = None
    vat_country: str | None = None
    customer: OrderCustomer = msgspec.field(default_factory=OrderCustomer)
    addresses: list[Address] = []
    payments: list[OrderPayment] = []
    lines: list[OrderLine] = []
    custom_attributes: list[CustomAttribute] | None = None

    def __post_init__(self) -> None:
        self.status_date = _moment(self.status_date)
        self.origin_date = _moment(self.origin_date)


class OrderParams(_Struct):
    order: Order


class _OrderRequest(_Struct, kw_only=True):
    jsonrpc: Literal["2.0"] = "2.0"
    id: str | int
    method: str
    params: OrderParams
    specversion: Any = msgspec.UNSET


class OrderMessage(msgspec.Struct, frozen=True):
    id: str
    method: str
    order: Order


#: JSON numbers with a fraction or exponent become Decimal, as in schemas.envelope.decode_json.
_ORDER_REQUEST = msgspec.json.Decoder(_OrderRequest, float_hook=Decimal)
_ORDER_METHODS = frozenset({ORDER_CREATED, ORDER_UPDATED})
#: Every digit as a zero: a number's digits become a run of zeros as long.
_ZEROS = bytes.maketrans(b"123456789", b"000000000")


def decode_order_message(value: bytes | None) -> OrderMessage | None:
    """An order snapshot message, or None when the pydantic models must read `value`."""
    if not value or not _decodes_anywhere(value):
        return None
    try:
        request = _ORDER_REQUEST.decode(value)
    except (ValueError, TypeError, RecursionError):  # msgspec's errors are ValueErrors
        return None
    if request.method not in _ORDER_METHODS or request.specversion is not msgspec.UNSET:
        return None
    return OrderMessage(str(request.id), request.method, request.params.order)


def _decodes_anywhere(value: bytes) -> bool:
    """Whether schemas.envelope.decode_json could read also the fields skipped here: their
    strings are valid UTF-8 and their integers have no more digits than Python converts."""
    if not value.isascii():
        try:
            value.decode()
        except UnicodeDecodeError:
            return False
    limit = sys.get_int_max_str_digits()
    return not limit or len(value) <= limit or b"0" * (limit + 1) not in value.translate(_ZEROS)
