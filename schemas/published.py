"""What this service publishes: appeasements as MCOM `refund_management.updated` events."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, Field, field_serializer

from schemas.appeasements import AllocationOut, RefundMethod

REFUND_UPDATED: Final = "magento.postsales.refund_management.updated"


class _Out(BaseModel):
    pass


class RefundStatus(_Out):
    code: str = Field(
        description="PENDINGAPPROVAL, PENDINGRELEASE, RELEASED, FAILED or DECLINED",
        examples=["PENDINGRELEASE"],
    )
    name: str = Field(examples=["Pending release"])
    reason_code: str = Field(examples=["REQUESTED"])
    date: str = Field(examples=["2026-11-22"])


class CostDetails(_Out):
    cost_gross: str = Field(examples=["99.80"])
    cost_net: str = Field(examples=["82.48"])
    cost_vat: str = Field(examples=["17.32"])
    vat_rate: str | None = Field(examples=["21"])


class LineStatus(_Out):
    code: str


class RefundPayment(_Out):
    ref: str | None = Field(description="The order's payment reference", examples=["PAY-1"])
    details: CostDetails
    status: LineStatus


class RefundLine(_Out):
    order_line: str = Field(examples=["L1"])
    order_item_id: str | None = Field(description="The line's SKU", examples=["TABLE-OAK"])
    reason: str
    reason_description: str
    payments: list[RefundPayment]


class CustomerOut(_Out):
    id: str | None
    email: str | None
    language: str | None


class GoodwillItem(_Out):
    orderItemReference: str  # noqa: N815 - the ERP's add-goodwill field names
    grossUnitPrice: str  # noqa: N815
    quantity: int
    vatAmount: str  # noqa: N815
    vatPercent: str | None  # noqa: N815
    vatType: str  # noqa: N815


class Goodwill(_Out):
    """The ERP's "add goodwill" request shape, for the accounting hand-off."""

    goodwillReference: str  # noqa: N815
    goodwillDate: str  # noqa: N815
    goodwillReason: str  # noqa: N815
    invoiceReference: str | None  # noqa: N815
    items: list[GoodwillItem]


class AppeasementExtension(_Out):
    id: str = Field(examples=["APP-01JD3Y8ZQ"])
    command_id: str = Field(description="The idempotency key of the grant")
    role: str
    approved_by: str | None
    claim_id: str | None
    comment: str | None
    currency: str = Field(examples=["EUR"])
    amount: str = Field(description="Gross total credited", examples=["99.80"])
    taxation: Literal["gross", "net"]
    allocation: list[AllocationOut]
    customer: CustomerOut
    refund_method: RefundMethod
    goodwill: Goodwill

    @field_serializer("refund_method")
    def _given_fields(self, method: RefundMethod) -> dict[str, Any]:
        return method.model_dump(exclude_none=True)


class AppeasementRefund(_Out):
    client: str = Field(description="This service's name", examples=["appeasement-service"])
    order_id: str
    store_id: str | None
    sales_channel_id: str | None
    credit_note_number: str = Field(description="The appeasement id")
    credit_note_date: str
    status: RefundStatus
    refund_type: Literal["Appeasement"] = "Appeasement"
    user: str = Field(description="Who asked for it")
    refund_reason: str
    lines: list[RefundLine]
    appeasement: AppeasementExtension


class AppeasementRefundParams(_Out):
    refund: AppeasementRefund


class AppeasementRefundUpdated(_Out):
    """An appeasement changed status. A fresh `id` per publication; key = the order id."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: str
    method: Literal["magento.postsales.refund_management.updated"] = REFUND_UPDATED
    params: AppeasementRefundParams


class OverCreditParams(_Out):
    code: Literal["OVER_CREDIT"] = "OVER_CREDIT"
    order_id: str
    order_line: str
    bucket: str | None = Field(examples=["product"])
    amount: str = Field(
        description="Appeased gross credited a second time: refunds and appeasements beyond "
        "what counts as paid on the line, at most what was appeased on it",
        examples=["19.95"],
    )
    currency: str = Field(examples=["EUR"])
    credit_note_number: str | None = Field(
        None,
        description="The OMS refund that landed on appeased money; null when an order snapshot "
        "caused the over-credit (e.g. it no longer lists an appeased line)",
    )
    appeasement_ids: list[str] = Field(description="Appeasements holding money on that line")


class OverCreditAlert(_Out):
    """An OMS refund landed on appeased money: the line was credited twice."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: str
    method: Literal["appeasement.alert"] = "appeasement.alert"
    params: OverCreditParams


class QuarantineParams(_Out):
    code: Literal["OUTBOX_QUARANTINED"] = "OUTBOX_QUARANTINED"
    outbox_id: int = Field(description="Retry or skip it: `python -m service outbox retry|skip`")
    topic: str
    key: str = Field(description="The order id: its later messages wait behind this one")
    message_id: str
    attempts: int
    error: str


class QuarantineAlert(_Out):
    """A message failed on its own too many times: its key waits for an operator."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: str
    method: Literal["appeasement.alert"] = "appeasement.alert"
    params: QuarantineParams
