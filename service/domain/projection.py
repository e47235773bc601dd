"""The per-order projection of what the OMS told us, and the rules that fold events into it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from service.domain.events import (
    Customer,
    OmsEvent,
    OmsRefundUpdated,
    OrderLineCancelled,
    OrderSnapshotReceived,
    RefundLineAmount,
    ReturnUpdated,
    ShipmentDone,
    SnapshotLine,
)
from service.domain.money import Currency

BUCKETS = ("product", "shipping", "handling", "fee")
REFUND_GIVEN_BACK = frozenset({"FAILED", "CANCELLED", "CANCELED", "DECLINED", "REJECTED"})
RETURN_OPEN = frozenset({"REQUESTED", "AUTHORIZED", "APPROVED"})
RETURN_CLOSED = frozenset({"REJECTED", "CANCELLED", "CANCELED", "CLOSED"})
PAYMENT_ERROR_STATUS = "ERROR"
CANCELLED_STATUS = "CANCELLED"


@dataclass(frozen=True, slots=True)
class ProjectionRules:
    """Configuration the OMS rules depend on (from settings, never from I/O)."""

    service_name: str = "appeasement-service"
    captured_statuses: frozenset[str] = frozenset({"CAPTURED", "PAID", "SETTLED", "INVOICED"})
    bucket_by_product_type: dict[str, str] = field(
        default_factory=lambda: {"SHIPPING": "shipping", "HANDLING": "handling", "FEE": "fee"}
    )
    default_taxation: str = "gross"
    taxation_by_store: dict[str, str] = field(default_factory=dict)

    def bucket_of(self, product_type: str) -> str:
        return self.bucket_by_product_type.get(product_type.upper(), "product")

    def taxation_of(self, store: str) -> str:
        return self.taxation_by_store.get(store, self.default_taxation)

    def is_captured(self, status: str | None) -> bool:
        return (status or "").strip().upper() in self.captured_statuses


@dataclass(slots=True)
class LineState:
    line_id: str
    line_number: int
    product_type: str
    bucket: str
    sku: str
    quantity: int
    gross: int
    tax: int
    paid_gross: int
    paid_tax: int
    tax_rate: Decimal | None = None
    product_name: str | None = None
    status: str | None = None
    payment_reference: str | None = None
    # the latest snapshot no longer lists the line: kept for history, nothing paid any more
    dropped: bool = False

    @property
    def cancelled(self) -> bool:
        return (self.status or "").upper() == CANCELLED_STATUS


@dataclass(slots=True)
class OmsRefund:
    credit_note_number: str
    refund_type: str | None
    status: str | None
    lines: tuple[RefundLineAmount, ...]
    rma: str | None = None
    status_date: datetime | None = None

    @property
    def counts(self) -> bool:
        """PENDINGRELEASE and RELEASED hold money; FAILED and CANCELLED give it back.

        Any other status is counted too: money that may still leave is not creditable.
        """
        return normalize_status(self.status) not in REFUND_GIVEN_BACK

    @property
    def is_return(self) -> bool:
        return (self.refund_type or "").lower() == "return"


@dataclass(slots=True)
class ReturnState:
    rma: str
    status: str | None
    line_numbers: tuple[int, ...]
    received: bool = False
    status_date: datetime | None = None

    @property
    def open(self) -> bool:
        status = normalize_status(self.status)
        if status in RETURN_CLOSED:
            return False
        return self.received or status in RETURN_OPEN


@dataclass(slots=True)
class Shipment:
    shipment_id: str
    shipped_at: datetime | None
    method: str | None
    line_ids: tuple[str, ...]
    tracking_numbers: tuple[str, ...] = ()
    carriers: tuple[str, ...] = ()


@dataclass(slots=True)
class OrderState:
    order_id: str
    known: bool = False
    store: str | None = None
    currency: str | None = None
    taxation: str | None = None
    status: str | None = None
    status_reason: str | None = None
    status_date: datetime | None = None
    vat_country: str | None = None
    customer: Customer = field(default_factory=Customer)
    payment_method: str | None = None
    payment_reference: str | None = None
    lines: dict[str, LineState] = field(default_factory=dict)
    cancelled_line_ids: set[str] = field(default_factory=set)
    refunds: dict[str, OmsRefund] = field(default_factory=dict)
    returns: dict[str, ReturnState] = field(default_factory=dict)
    shipments: dict[str, Shipment] = field(default_factory=dict)

    @property
    def payment_error(self) -> bool:
        return (self.status or "").upper() == PAYMENT_ERROR_STATUS

    def is_line_cancelled(self, line: LineState) -> bool:
        return line.cancelled or line.line_id in self.cancelled_line_ids

    def apply(self, event: OmsEvent, rules: ProjectionRules) -> bool:
        """Fold one OMS event in; return False when it was ignored."""
        match event:
            case OrderSnapshotReceived():
                return self._apply_snapshot(event, rules)
            case OrderLineCancelled():
                self.cancelled_line_ids.add(event.line_id)
            case ReturnUpdated():
                return self._apply_return(event)
            case OmsRefundUpdated():
                if event.client == rules.service_name:
                    return False
                return self._apply_refund(event)
            case ShipmentDone():
                self.shipments[event.shipment_id] = Shipment(
                    event.shipment_id,
                    event.shipped_at,
                    event.method,
                    event.line_ids,
                    event.tracking_numbers,
                    event.carriers,
                )
        return True

    def _apply_snapshot(self, event: OrderSnapshotReceived, rules: ProjectionRules) -> bool:
        if is_older(event.status_date, self.status_date):
            return False
        currency = Currency.of(event.currency)
        self.known = True
        self.store = event.store
        self.currency = currency.code
        self.taxation = rules.taxation_of(event.store)
        self.status = event.status
        self.status_reason = event.status_reason
        self.status_date = event.status_date or self.status_date
        self.vat_country = event.vat_country
        self.customer = event.customer
        self.payment_method = event.payment_method
        self.payment_reference = event.payment_reference
        listed = {line.line_id for line in event.lines}
        for held in self.lines.values():
            held.dropped = held.line_id not in listed
        for line in event.lines:
            self.lines[line.line_id] = read_line(line, event, currency, rules)
        return True

    def _apply_refund(self, event: OmsRefundUpdated) -> bool:
        """Updates of one credit note merge: what an update leaves out, the note keeps. An
        update older (`status_date`) than the one held is ignored, like an older snapshot:
        a failure delivered again after the release must not give the money back."""
        held = self.refunds.get(event.credit_note_number)
        if held is None:
            held = OmsRefund(event.credit_note_number, None, None, ())
        elif is_older(event.status_date, held.status_date):
            return False
        self.refunds[event.credit_note_number] = OmsRefund(
            event.credit_note_number,
            event.refund_type or held.refund_type,
            event.status or held.status,
            event.lines or held.lines,
            event.rma or held.rma,
            event.status_date or held.status_date,
        )
        return True

    def _apply_return(self, event: ReturnUpdated) -> bool:
        """A status update older (`status_date`) than the one held is ignored; the arrival
        of units (`received`, no status) always counts and keeps the status and its date."""
        held = self.returns.get(event.rma)
        if event.received:
            self.returns[event.rma] = ReturnState(
                event.rma, held.status if held else None, event.line_numbers, True,
                later_of(event.status_date, held.status_date if held else None),
            )
            return True
        if held is not None and is_older(event.status_date, held.status_date):
            return False
        line_numbers = event.line_numbers or (held.line_numbers if held else ())
        received = held.received if held else False
        self.returns[event.rma] = ReturnState(
            event.rma, event.status, line_numbers, received,
            event.status_date or (held.status_date if held else None),
        )
        return True


def read_line(
    line: SnapshotLine, order: OrderSnapshotReceived, currency: Currency, rules: ProjectionRules
) -> LineState:
    gross, tax = currency.to_minor(line.gross), currency.to_minor(line.tax)
    paid_gross, paid_tax = paid_of(line, order, currency, rules, gross, tax)
    return LineState(
        line_id=line.line_id,
        line_number=line.line_number,
        product_type=line.product_type,
        bucket=rules.bucket_of(line.product_type),
        sku=line.sku,
        quantity=max(line.quantity, 1),
        gross=gross,
        tax=tax,
        paid_gross=paid_gross,
        paid_tax=paid_tax,
        tax_rate=line.tax_rate,
        product_name=line.product_name,
        status=line.status,
        payment_reference=line.payment_reference,
    )


def paid_of(
    line: SnapshotLine,
    order: OrderSnapshotReceived,
    currency: Currency,
    rules: ProjectionRules,
    gross: int,
    tax: int,
) -> tuple[int, int]:
    """Captured money only: the line's captured payments, else the order's captured transaction."""
    if line.payments:
        paid_gross = paid_tax = 0
        for payment in line.payments:
            if rules.is_captured(payment.status):
                # a payment of the line's own amount (the usual case) is rounded already
                paid_gross += (gross if payment.gross == line.gross
                               else currency.to_minor(payment.gross))
                paid_tax += tax if payment.tax == line.tax else currency.to_minor(payment.tax)
        return paid_gross, paid_tax
    statuses = order.authorization_status
    if line.payment_reference in statuses:
        relevant = [statuses[line.payment_reference]]
    else:
        relevant = list(statuses.values())
    if relevant and all(rules.is_captured(s) for s in relevant):
        return gross, tax
    return 0, 0


def normalize_status(status: str | None) -> str:
    return (status or "").upper().replace(" ", "").replace("_", "")


def is_older(incoming: datetime | None, held: datetime | None) -> bool:
    return incoming is not None and held is not None and incoming < held


def later_of(one: datetime | None, other: datetime | None) -> datetime | None:
    if one is None or other is None:
        return one or other
    return max(one, other)
