"""Commands this service takes on topics, and its replies to them.

`magento.postsales.appeasement_management.create` is MCOM's own appeasement command;
the fields after `custom_attributes` are this service's optional extensions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import Field, model_validator

from schemas.appeasements import BucketName, RefundMethod
from schemas.base import CustomAttribute, McomAmount, McomStruct
from schemas.envelope import JsonRpcRequest

APPEASEMENT_CREATE: Final = "magento.postsales.appeasement_management.create"
REFUND_RELEASE: Final = "magento.postsales.refund_management.release"
REFUND_CANCEL: Final = "magento.postsales.refund_management.cancel"
COMMAND_RESULTS: Final = "appeasement.command_results"
APPEASEMENT_APPROVE: Final = "appeasement.approve"
APPEASEMENT_DECLINE: Final = "appeasement.decline"


class AppeasementLine(McomStruct):
    """One line of the command: MCOM's `amount`, or our `percent` / `unit_amount` x `quantity`."""

    id: str | None = Field(None, description="The order line id", examples=["L1"])
    line_number: int | None = Field(None, description="The order line number, when no id")
    amount: McomAmount | None = Field(None, examples=[Decimal("20.00")])
    reason: str | None = Field(None, examples=["ARTICLE_DEFECTIVE"])
    reason_description: str | None = None
    percent: McomAmount | None = Field(None, examples=[Decimal("20")])
    unit_amount: McomAmount | None = None
    quantity: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def names_a_line(self) -> AppeasementLine:
        if self.id is None and self.line_number is None:
            raise ValueError("a line needs an id or a line_number")
        return self


class AppeasementCommand(McomStruct):
    sales_channel_id: str | None = None
    order_id: str = Field(examples=["000012345"])
    user: str = Field(examples=["agent-42"])
    credit_note_number: str | None = Field(
        None, description="The appeasement's reference when given; unique"
    )
    origin_date: str | None = None
    lines: list[AppeasementLine] | None = None
    custom_attributes: list[CustomAttribute] = Field(default_factory=list)
    role: str = Field("agent", description="The caller's role in the policy")
    reason: str | None = Field(None, description="The reason when the lines do not carry one")
    comment: str | None = None
    claim_id: str | None = None
    invoice_reference: str | None = None
    refund_method: RefundMethod | None = None
    amounts: dict[BucketName, McomAmount] | None = Field(
        None, description="Order-level amounts per bucket, instead of lines"
    )
    percent: McomAmount | None = Field(
        None, description="Of the order's creditable product value, instead of lines"
    )
    include_shipping: bool = False


class AppeasementCreateParams(McomStruct):
    appeasement: AppeasementCommand


class AppeasementCreate(JsonRpcRequest):
    """Grant an appeasement. The JSON-RPC `id` is the idempotency key."""

    method: Literal["magento.postsales.appeasement_management.create"] = APPEASEMENT_CREATE
    params: AppeasementCreateParams  # type: ignore[assignment]


class RefundOutcomeParams(McomStruct):
    sales_channel_id: str | None = None
    order_id: str
    credit_note_number: str = Field(description="The appeasement id for appeasements")
    user: str | None = None
    offline: bool | None = None


class RefundReleased(JsonRpcRequest):
    """The PSP refunded the money: the appeasement becomes RELEASED."""

    method: Literal["magento.postsales.refund_management.release"] = REFUND_RELEASE
    params: RefundOutcomeParams  # type: ignore[assignment]


class RefundCancelled(JsonRpcRequest):
    """The refund could not be made: the appeasement FAILED and its money is creditable again."""

    method: Literal["magento.postsales.refund_management.cancel"] = REFUND_CANCEL
    params: RefundOutcomeParams  # type: ignore[assignment]


class DecisionParams(McomStruct):
    appeasement_id: str = Field(examples=["APP-01JD3Y8ZQ"])
    user: str = Field(examples=["lead-7"])
    role: str = Field(examples=["lead"])
    comment: str | None = None


class AppeasementApprove(JsonRpcRequest):
    """Approve a held appeasement (four eyes): it becomes PENDINGRELEASE."""

    method: Literal["appeasement.approve"] = APPEASEMENT_APPROVE
    params: DecisionParams  # type: ignore[assignment]


class AppeasementDecline(JsonRpcRequest):
    """Decline a held appeasement: it becomes DECLINED and its money creditable again."""

    method: Literal["appeasement.decline"] = APPEASEMENT_DECLINE
    params: DecisionParams  # type: ignore[assignment]


class RpcErrorData(McomStruct):
    code: str = Field(examples=["EXCEEDS_CREDITABLE_BALANCE"])


class RpcError(McomStruct):
    code: int = -32000
    message: str
    data: RpcErrorData


class CommandResult(McomStruct):
    """The reply on `appeasement.command_results`: `result` or `error`, with the command's id."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: str | int
    result: dict[str, Any] | None = Field(None, description='{"appeasement": {...}}')
    error: RpcError | None = None


COMMANDS: dict[str, type[JsonRpcRequest]] = {
    APPEASEMENT_CREATE: AppeasementCreate,
    REFUND_RELEASE: RefundReleased,
    REFUND_CANCEL: RefundCancelled,
    APPEASEMENT_APPROVE: AppeasementApprove,
    APPEASEMENT_DECLINE: AppeasementDecline,
}


class RpcResponse(McomStruct):
    """The answer to an MCOM delivery over HTTP: `result` or `error`, with the request's id
    (null when the request's id could not be read)."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: str | int | None = Field(description="The request's id, as it was sent")
    result: dict[str, Any] | None = Field(
        None, description='An event: {"outcome": "applied" | "ignored" | "duplicate", '
        '"order_id"}; a grant or decision: {"appeasement": {...}}; a PSP outcome: '
        '{"outcome", "order_id", "credit_note_number"}',
    )
    error: RpcError | None = Field(
        None, description="-32700 parse error, -32600 invalid request, -32601 method not "
        "found, -32602 invalid params, -32603 internal error (each dead-lettered, `data.code` "
        "the dead-letter code), -32000 refused by a rule (`data.code` the rule code)",
    )
