"""Facts the OMS tells us, already read off the wire into plain values.

Made once per consumed message and never changed after. They are plain slotted dataclasses,
not frozen ones: a frozen dataclass sets each field through `object.__setattr__`, and made
that way a three-line snapshot's event took 20 µs to make instead of 11 µs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(slots=True)
class LinePayment:
    status: str | None
    gross: Decimal
    tax: Decimal


@dataclass(slots=True)
class SnapshotLine:
    line_id: str
    line_number: int
    product_type: str
    sku: str
    quantity: int
    gross: Decimal
    tax: Decimal
    tax_rate: Decimal | None = None
    product_name: str | None = None
    status: str | None = None
    payment_reference: str | None = None
    payments: tuple[LinePayment, ...] | None = None


@dataclass(slots=True)
class Customer:
    id: str | None = None
    type: str | None = None
    segment: str | None = None
    email: str | None = None
    language: str | None = None


@dataclass(slots=True)
class OrderSnapshotReceived:
    order_id: str
    store: str
    currency: str | None
    lines: tuple[SnapshotLine, ...]
    status: str | None = None
    status_reason: str | None = None
    status_date: datetime | None = None
    vat_country: str | None = None
    customer: Customer = field(default_factory=Customer)
    payment_method: str | None = None
    payment_reference: str | None = None
    authorization_status: dict[str, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class OrderLineCancelled:
    order_id: str
    line_id: str


@dataclass(slots=True)
class ReturnUpdated:
    order_id: str
    rma: str
    status: str | None
    line_numbers: tuple[int, ...]
    received: bool = False
    status_date: datetime | None = None


@dataclass(slots=True)
class RefundLineAmount:
    order_line: str
    gross: Decimal
    tax: Decimal


@dataclass(slots=True)
class OmsRefundUpdated:
    order_id: str
    credit_note_number: str
    client: str | None
    refund_type: str | None
    status: str | None
    lines: tuple[RefundLineAmount, ...]
    rma: str | None = None
    status_date: datetime | None = None


@dataclass(slots=True)
class ShipmentDone:
    order_id: str
    shipment_id: str
    shipped_at: datetime | None
    method: str | None
    line_ids: tuple[str, ...]
    tracking_numbers: tuple[str, ...] = ()
    carriers: tuple[str, ...] = ()


OmsEvent = (
    OrderSnapshotReceived | OrderLineCancelled | ReturnUpdated | OmsRefundUpdated | ShipmentDone
)
