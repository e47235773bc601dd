"""Read consumed MCOM messages into domain events; anything unreadable is a WireError."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas import consumed as wire
from schemas import order_structs
from schemas.envelope import Envelope, WireError, describe
from schemas.mcom import Order, OrderLine, Price, RefundPaymentDetails
from service.domain.events import (
    Customer,
    LinePayment,
    OmsEvent,
    OmsRefundUpdated,
    OrderLineCancelled,
    OrderSnapshotReceived,
    RefundLineAmount,
    ReturnUpdated,
    ShipmentDone,
    SnapshotLine,
)
from service.domain.money import Currency, UnknownCurrency


def to_event(envelope: Envelope) -> OmsEvent:
    try:
        params_model, read = _READERS[envelope.method]
    except KeyError:
        raise WireError("UNKNOWN_METHOD", f"no handler for method {envelope.method!r}") from None
    try:
        params = params_model.model_validate(envelope.params)
    except ValidationError as error:
        raise WireError("SCHEMA_VALIDATION", describe(error)) from None
    return read(params, envelope)


def read_fast(value: bytes | None) -> tuple[str, str, OmsEvent] | None:
    """The id, method and event of an order snapshot read straight from `value`; None for any
    other message, or anything unusual: read_envelope and to_event read those, or say why not."""
    message = order_structs.decode_order_message(value)
    if message is None:
        return None
    try:
        return message.id, message.method, _snapshot(message.order)
    except WireError:
        return None


def _order_snapshot(params: wire.OrderParams, envelope: Envelope) -> OrderSnapshotReceived:
    return _snapshot(params.order)


def _snapshot(order: Order | order_structs.Order) -> OrderSnapshotReceived:
    """The same event from the pydantic models and from their msgspec mirrors."""
    currency = _order_currency(order)
    try:
        Currency.of(currency)
    except UnknownCurrency as error:
        raise WireError(error.code, f"order {order.id}: {error.message}") from None
    payment = order.payments[0] if order.payments else None
    transaction = payment.transactions[0] if payment and payment.transactions else None
    email = next((a.email for a in order.addresses if a.email), None)
    return OrderSnapshotReceived(
        order_id=order.id,
        store=order.store,
        currency=currency,
        lines=tuple(_line(line) for line in order.lines),
        status=order.status,
        status_reason=order.status_reason,
        status_date=_utc(order.status_date),
        vat_country=order.vat_country,
        customer=Customer(
            order.customer.id, order.customer.type, order.customer.segment, email, order.language
        ),
        payment_method=transaction.payment_method if transaction else None,
        payment_reference=payment.reference if payment else None,
        authorization_status={
            p.reference or "": (
                p.transactions[0].gateway_information.authorization_status
                if p.transactions and p.transactions[0].gateway_information
                else None
            )
            for p in order.payments
        },
    )


def _order_currency(order: Order | order_structs.Order) -> str | None:
    for payment in order.payments:
        if payment.currency:
            return payment.currency
    return next((line.amount.currency for line in order.lines if line.amount.currency), None)


def _line(line: OrderLine | order_structs.OrderLine) -> SnapshotLine:
    return SnapshotLine(
        line_id=line.id,
        line_number=line.line_number,
        product_type=line.product_type,
        sku=line.sku,
        quantity=line.quantity,
        gross=line.amount.gross_amount,
        tax=_tax(line.amount),
        tax_rate=line.amount.tax_rate,
        product_name=line.product_name,
        status=line.status,
        payment_reference=line.payment_reference,
        payments=None
        if line.payments is None
        else tuple(LinePayment(p.status, p.gross_amount, _tax(p)) for p in line.payments),
    )


def _tax(amount: Price | Any) -> Decimal:
    if amount.tax_amount is not None:
        return amount.tax_amount
    if amount.net_amount is not None:
        return amount.gross_amount - amount.net_amount
    return Decimal(0)


def _line_cancelled(params: wire.LineCancelledParams, envelope: Envelope) -> OrderLineCancelled:
    return OrderLineCancelled(params.order_id, params.order_line_id)


def _return(params: wire.ReturnParams, envelope: Envelope) -> ReturnUpdated:
    held = params.return_
    status = held.status
    return ReturnUpdated(
        order_id=held.order_id,
        rma=held.rma,
        status=status.code if status else None,
        line_numbers=tuple(line.line_number for line in held.lines),
        received=envelope.method == wire.RETURN_RECEIVED,
        status_date=_utc(status.date if status else None),
    )


def _refund(params: wire.RefundParams, envelope: Envelope) -> OmsRefundUpdated:
    refund = params.refund
    return OmsRefundUpdated(
        order_id=refund.order_id,
        credit_note_number=refund.credit_note_number,
        client=refund.client,
        refund_type=refund.refund_type,
        status=refund.status.code,
        lines=tuple(
            RefundLineAmount(
                line.order_line,
                sum((p.details.cost_gross for p in line.payments), Decimal(0)),
                sum((_refund_tax(p.details) for p in line.payments), Decimal(0)),
            )
            for line in refund.lines
        ),
        rma=refund.rma,
        status_date=_utc(refund.status.date),
    )


def _refund_tax(details: RefundPaymentDetails) -> Decimal:
    if details.cost_vat is not None:
        return details.cost_vat
    if details.cost_net is not None:
        return details.cost_gross - details.cost_net
    if details.vat_rate:
        return details.cost_gross * details.vat_rate / (100 + details.vat_rate)
    return Decimal(0)


def _shipment(params: wire.ShipmentParams, envelope: Envelope) -> ShipmentDone:
    shipment = params.shipment
    return ShipmentDone(
        order_id=shipment.order_id,
        shipment_id=envelope.id,
        shipped_at=_utc(shipment.shipment_date),
        method=shipment.method,
        line_ids=tuple(item.order_line_id for item in shipment.items if item.order_line_id),
        tracking_numbers=tuple(p.tracking_number for p in shipment.packages if p.tracking_number),
        carriers=tuple(dict.fromkeys(p.carrier for p in shipment.packages if p.carrier)),
    )


def _utc(moment: datetime | date | None) -> datetime | None:
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time.min)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_READERS: dict[str, tuple[type[BaseModel], Callable[[Any, Envelope], OmsEvent]]] = {
    wire.ORDER_CREATED: (wire.OrderParams, _order_snapshot),
    wire.ORDER_UPDATED: (wire.OrderParams, _order_snapshot),
    wire.LINE_CANCELLED: (wire.LineCancelledParams, _line_cancelled),
    wire.RETURN_UPDATED: (wire.ReturnParams, _return),
    wire.RETURN_RECEIVED: (wire.ReturnParams, _return),
    wire.REFUND_UPDATED: (wire.RefundParams, _refund),
    wire.SHIPMENT_DONE: (wire.ShipmentParams, _shipment),
}
