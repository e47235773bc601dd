"""Appeasement requests and answers on the HTTP API. Amounts are strings ("5.90")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    TypeAdapter,
    model_validator,
)

from schemas.api import AmountsOut
from schemas.base import MAX_LINES, FreeText, Reference, json_int

BucketName = Literal["product", "shipping", "handling", "fee", "tax", "overage"]


AMOUNT_PATTERN = r"^[0-9]{1,15}(\.[0-9]+)?$"

#: An amount on our API: a plain decimal string in the order's currency ("5.90"). It is
#: parsed by the domain, which answers INVALID_AMOUNT / CURRENCY_PRECISION with the rule.
Amount = Annotated[str, Field(
    max_length=40, examples=["5.90"], json_schema_extra={"pattern": AMOUNT_PATTERN},
    description="A plain decimal: at most 15 integer digits and the currency's decimals",
)]
Percent = Annotated[str, Field(
    max_length=40, examples=["20"], json_schema_extra={"pattern": AMOUNT_PATTERN},
    description="Above 0, at most 100",
)]


def _present(*names: str, **types: str) -> dict[str, Any]:
    """JSON Schema: `names` given (not null), each other field of `types` absent or null."""
    return {"required": list(names), "properties": {
        name: {"type": "null"} if name not in names else {"type": kind}
        for name, kind in types.items()
    }}


_SHAPE_FIELDS = {"amount": "string", "percent": "string", "unit_amount": "string"}


class LineRequest(BaseModel):
    """One line: exactly one of `amount`, `percent`, or `unit_amount` with `quantity`."""

    # The JSON Schema says what a line must be. Two or none of the amounts reach the domain,
    # which answers INVALID_AMOUNT as it does on the command topic; a line named by neither
    # id nor number is refused here (MALFORMED_REQUEST).
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "anyOf": [_present("line_id", line_id="string"),
                  _present("line_number", line_number="integer")],
        "oneOf": [_present("amount", **_SHAPE_FIELDS), _present("percent", **_SHAPE_FIELDS),
                  _present("unit_amount", "quantity", **_SHAPE_FIELDS, quantity="integer")],
    })

    line_id: Reference | None = Field(None, examples=["L1"])
    line_number: json_int(0, 2**31 - 1) | None = Field(  # type: ignore[valid-type]
        None, description="Names the line when `line_id` is absent"
    )
    amount: Amount | None = None
    percent: Percent | None = Field(None, description="Of the line's creditable value")
    unit_amount: Amount | None = None
    quantity: json_int(1, 1_000_000) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def names_a_line(self) -> LineRequest:
        if self.line_id is None and self.line_number is None:
            raise ValueError("a line needs a line_id or a line_number")
        return self


BANK_FIELDS = ("account_owner", "iban", "bic")


class RefundMethod(BaseModel):
    """Back to the original payment (optionally naming one of the order's payments), or by
    bank transfer: bank fields are accepted only with `type` `bank_transfer`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "if": {"required": ["type"], "properties": {"type": {"const": "bank_transfer"}}},
        # without a bank transfer, each bank field is absent, null or empty
        "else": {"properties": {name: {"enum": [None, ""]} for name in BANK_FIELDS}},
    })

    type: Literal["original_payment", "bank_transfer"] = "original_payment"
    payment_reference: Reference | None = Field(None, description="One of the order's payments")
    account_owner: Reference | None = None
    iban: str | None = Field(None, max_length=64, description="Never shown back in full")
    bic: str | None = Field(None, max_length=16)

    @model_validator(mode="after")
    def bank_fields_only_for_a_transfer(self) -> RefundMethod:
        if self.type != "bank_transfer" and any(getattr(self, name) for name in BANK_FIELDS):
            raise ValueError(
                "account_owner, iban and bic are accepted only with type bank_transfer"
            )
        return self


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reference = Field(examples=["ARTICLE_DEFECTIVE"])
    comment: FreeText | None = None
    claim_id: Reference | None = None
    invoice_reference: Reference | None = None
    refund_method: RefundMethod | None = None


class AmountsRequest(_Request):
    """Order-level amounts per bucket, spread over lines by creditable value."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "DELIVERY_DELAYED", "comment": "parcel 4 days late",
         "amounts": {"shipping": "5.90"}},
    ]})

    amounts: dict[BucketName, Amount]


class LinesRequest(_Request):
    """Per line: an amount, a percentage of its creditable value, or unit price x quantity."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "ARTICLE_DEFECTIVE", "lines": [{"line_id": "L1", "percent": "20"}]},
    ]})

    lines: list[LineRequest] = Field(max_length=MAX_LINES)


class PercentRequest(_Request):
    """A percentage of the order's creditable product value (and shipping, when asked)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "CUSTOMER_COMPLAINT", "percent": "10", "include_shipping": True},
    ]})

    percent: Percent = Field(description="Of the order's creditable product value")
    include_shipping: StrictBool = False


SHAPES = ("amounts", "lines", "percent")


def _shape(value: Any) -> str | None:
    """Which of the three shapes a body is: the one key of `amounts`, `lines`, `percent`
    it has. None (an error) for none of them; with several, the others are refused as
    extra fields of the first."""
    if isinstance(value, dict):
        return next((name for name in SHAPES if name in value), None)
    return next((name for name in SHAPES if getattr(value, name, None) is not None), None)


#: One order, one reason, and exactly one of `amounts`, `lines` or `percent` (a oneOf).
AppeasementRequest = Annotated[
    Annotated[AmountsRequest, Tag("amounts")]
    | Annotated[LinesRequest, Tag("lines")]
    | Annotated[PercentRequest, Tag("percent")],
    Discriminator(
        _shape, custom_error_type="one_shape",
        custom_error_message="give exactly one of amounts, lines or percent",
    ),
]
REQUEST = TypeAdapter(AppeasementRequest)


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

    comment: FreeText | None = Field(None, examples=["checked the photos"])


class ClaimRequest(BaseModel):
    """A reclamation on an order: all its lines, or those named."""

    model_config = ConfigDict(extra="forbid")

    reason: Reference = Field(examples=["ARTICLE_DEFECTIVE"])
    comment: FreeText | None = Field(None, examples=["customer sent photos of the scratch"])
    line_ids: list[Reference] | None = Field(
        None, max_length=MAX_LINES, description="Omitted: every line of the order"
    )


class CloseClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: FreeText | None = None


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
