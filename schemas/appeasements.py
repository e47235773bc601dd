"""Appeasement requests and answers on the HTTP API. Amounts are strings ("5.90")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.api import AmountsOut

BucketName = Literal["product", "shipping", "handling", "fee", "tax", "overage"]


class LineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: str | None = Field(None, examples=["L1"])
    line_number: int | None = Field(None, description="Names the line when `line_id` is absent")
    amount: str | None = Field(None, examples=["20.00"])
    percent: str | None = Field(None, description="Of the line's creditable value", examples=["20"])
    unit_amount: str | None = Field(None, examples=["5.00"])
    quantity: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def names_a_line(self) -> LineRequest:
        if self.line_id is None and self.line_number is None:
            raise ValueError("a line needs a line_id or a line_number")
        return self


class RefundMethod(BaseModel):
    """Back to the original payment (optionally naming one of the order's payments), or by
    bank transfer: bank fields are accepted only with `type` `bank_transfer`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["original_payment", "bank_transfer"] = "original_payment"
    payment_reference: str | None = Field(None, description="One of the order's payments")
    account_owner: str | None = None
    iban: str | None = Field(None, description="Never shown back in full")
    bic: str | None = None

    @model_validator(mode="after")
    def bank_fields_only_for_a_transfer(self) -> RefundMethod:
        if self.type != "bank_transfer" and (self.account_owner or self.iban or self.bic):
            raise ValueError(
                "account_owner, iban and bic are accepted only with type bank_transfer"
            )
        return self


class AppeasementRequest(BaseModel):
    """One order, one reason, and exactly one of `amounts`, `lines` or `percent`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "DELIVERY_DELAYED", "comment": "parcel 4 days late",
                 "amounts": {"shipping": "5.90"}},
                {"reason": "ARTICLE_DEFECTIVE", "lines": [{"line_id": "L1", "percent": "20"}]},
            ]
        },
    )

    reason: str = Field(examples=["ARTICLE_DEFECTIVE"])
    comment: str | None = None
    claim_id: str | None = None
    invoice_reference: str | None = None
    refund_method: RefundMethod | None = None
    amounts: dict[BucketName, str] | None = None
    lines: list[LineRequest] | None = None
    percent: str | None = Field(None, description="Of the order's creditable product value")
    include_shipping: bool = False

    @model_validator(mode="after")
    def exactly_one_shape(self) -> AppeasementRequest:
        given = [name for name in ("amounts", "lines", "percent") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of amounts, lines or percent")
        return self


class AllocationOut(BaseModel):
    order_line: str
    bucket: str
    gross: str
    net: str
    tax: str
    tax_rate: str | None


class TransitionOut(BaseModel):
    from_status: str | None
    to_status: str
    actor: str
    role: str | None
    reason: str | None
    comment: str | None
    at: str


class PreviewOut(BaseModel):
    order_id: str
    currency: str
    taxation: str
    reason: str
    amount: str = Field(description="Gross total credited")
    totals: AmountsOut
    allocation: list[AllocationOut]
    status: str = Field(
        description="The status a grant would get: PENDINGRELEASE, or PENDINGAPPROVAL when "
        "it is above the caller's limits and the policy holds it for approval"
    )


class AppeasementOut(BaseModel):
    id: str
    order_id: str
    command_id: str
    status: str
    reason: str
    comment: str | None
    claim_id: str | None
    invoice_reference: str | None
    requested_by: str
    role: str
    approved_by: str | None
    currency: str
    taxation: str
    amount: str
    totals: AmountsOut
    allocation: list[AllocationOut]
    refund_method: dict | None
    created_at: str
    transitions: list[TransitionOut]


class RejectionOut(BaseModel):
    channel: str = Field(description="http or rpc")
    command_id: str = Field(description="The idempotency key of the refused command")
    actor: str | None
    role: str | None
    code: str = Field(examples=["EXCEEDS_CREDITABLE_BALANCE"])
    message: str
    details: dict
    at: str


class OrderAppeasementsOut(BaseModel):
    order_id: str
    appeasements: list[AppeasementOut]
    rejections: list[RejectionOut] = Field(description="Refused commands: audit only, no money")


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(None, examples=["checked the photos"])


class ClaimRequest(BaseModel):
    """A reclamation on an order: all its lines, or those named."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(examples=["ARTICLE_DEFECTIVE"])
    comment: str | None = Field(None, examples=["customer sent photos of the scratch"])
    line_ids: list[str] | None = Field(None, description="Omitted: every line of the order")


class CloseClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = None


class ClaimAppeasementOut(BaseModel):
    id: str
    status: str
    amount: str
    currency: str


class ClaimOut(BaseModel):
    id: str
    order_id: str
    status: str = Field(description="OPEN or CLOSED; a closed claim is never reopened")
    reason: str
    comment: str | None
    line_ids: list[str]
    opened_by: str
    opened_at: str
    closed_by: str | None
    closed_at: str | None
    close_comment: str | None
    appeasements: list[ClaimAppeasementOut]
