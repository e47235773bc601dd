"""Every message this service consumes from the OMS, by method (= default topic)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from schemas.base import McomStruct
from schemas.envelope import JsonRpcRequest
from schemas.mcom import Order, Refund, Return, Shipment

ORDER_CREATED: Final = "magento.sales.order_management.created"
ORDER_UPDATED: Final = "magento.sales.order_management.updated"
LINE_CANCELLED: Final = "magento.sales.order_management.line_cancelled"
RETURN_UPDATED: Final = "magento.postsales.return_management.updated"
RETURN_RECEIVED: Final = "magento.postsales.return_management.received"
REFUND_UPDATED: Final = "magento.postsales.refund_management.updated"
SHIPMENT_DONE: Final = "magento.logistics.fulfillment_management.customer_shipment_done"


class OrderParams(McomStruct):
    order: Order


class LineCancelledParams(McomStruct):
    order_id: str
    order_line_id: str


class ReturnParams(McomStruct):
    return_: Return = Field(alias="return")


class RefundParams(McomStruct):
    refund: Refund


class ShipmentParams(McomStruct):
    shipment: Shipment


class OrderCreated(JsonRpcRequest):
    """The OMS created an order."""

    method: Literal["magento.sales.order_management.created"] = ORDER_CREATED
    params: OrderParams  # type: ignore[assignment]


class OrderUpdated(JsonRpcRequest):
    """The whole order again, after any change."""

    method: Literal["magento.sales.order_management.updated"] = ORDER_UPDATED
    params: OrderParams  # type: ignore[assignment]


class LineCancelled(JsonRpcRequest):
    """One order line was cancelled."""

    method: Literal["magento.sales.order_management.line_cancelled"] = LINE_CANCELLED
    params: LineCancelledParams  # type: ignore[assignment]


class ReturnUpdatedMessage(JsonRpcRequest):
    """A return changed status; open returns hold their units."""

    method: Literal["magento.postsales.return_management.updated"] = RETURN_UPDATED
    params: ReturnParams  # type: ignore[assignment]


class ReturnReceived(JsonRpcRequest):
    """Returned units arrived at the warehouse."""

    method: Literal["magento.postsales.return_management.received"] = RETURN_RECEIVED
    params: ReturnParams  # type: ignore[assignment]


class RefundUpdated(JsonRpcRequest):
    """A refund the OMS made (cancellation, return, direct)."""

    method: Literal["magento.postsales.refund_management.updated"] = REFUND_UPDATED
    params: RefundParams  # type: ignore[assignment]


class ShipmentDoneMessage(JsonRpcRequest):
    """Some order lines were shipped."""

    method: Literal["magento.logistics.fulfillment_management.customer_shipment_done"] = (
        SHIPMENT_DONE
    )
    params: ShipmentParams  # type: ignore[assignment]


CONSUMED: dict[str, type[JsonRpcRequest]] = {
    ORDER_CREATED: OrderCreated,
    ORDER_UPDATED: OrderUpdated,
    LINE_CANCELLED: LineCancelled,
    RETURN_UPDATED: ReturnUpdatedMessage,
    RETURN_RECEIVED: ReturnReceived,
    REFUND_UPDATED: RefundUpdated,
    SHIPMENT_DONE: ShipmentDoneMessage,
}
