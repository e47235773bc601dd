"""HTTP API models. Amounts are decimal strings in the order's currency ("5.90")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AmountsOut(BaseModel):
    gross: str = Field(examples=["99.80"])
    net: str = Field(examples=["82.48"])
    tax: str = Field(examples=["17.32"])


class BalanceFigures(BaseModel):
    paid: AmountsOut = Field(description="Captured money")
    refunded: AmountsOut = Field(description="Refunds the OMS made that hold money")
    appeased: AmountsOut = Field(description="Appeasements accepted here and not failed")
    under_return: AmountsOut = Field(description="Value of units under an open return")
    creditable: AmountsOut = Field(description="paid - refunded - appeased - under return, >= 0")


class LineBalanceOut(BalanceFigures):
    line_id: str
    line_number: int
    sku: str
    product_name: str | None = None
    product_type: str
    bucket: str = Field(description="product, shipping, handling or fee")
    quantity: int
    status: str | None = None
    cancelled: bool
    tax_rate: str | None = None
    under_return_quantity: int
    dropped: bool = Field(
        False,
        description="The latest order snapshot no longer lists the line: kept for history, "
        "nothing paid or creditable on it",
    )


class BalanceOut(BaseModel):
    order_id: str
    store: str | None
    currency: str
    taxation: str | None = Field(description="gross (VAT-inclusive) or net (sales tax)")
    status: str | None
    appeasable: bool
    not_appeasable_reason: str | None = Field(
        None, description="PAYMENT_ERROR or ORDER_NOT_PAID when nothing may be credited"
    )
    lines: list[LineBalanceOut]
    buckets: dict[str, BalanceFigures]
    totals: BalanceFigures


class ShipmentOut(BaseModel):
    """A shipment the OMS reported (`customer_shipment_done`)."""

    shipment_id: str
    shipped_at: str | None = Field(description="RFC 3339, UTC", examples=["2026-11-21T16:00:00Z"])
    method: str | None = Field(None, description="The shipping method, e.g. next_day")
    line_ids: list[str] = Field(description="Order lines with units in it")
    carriers: list[str] = Field(description="Package carriers, as the OMS names them")
    tracking_numbers: list[str]


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable `code`."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str = Field(examples=["ORDER_NOT_FOUND"])
    instance: str | None = None

    @classmethod
    def of(cls, status: int, code: str, title: str, detail: str | None = None, **extra: Any) -> Problem:
        return cls(status=status, code=code, title=title, detail=detail, **extra)


class ReasonOut(BaseModel):
    code: str = Field(examples=["DELIVERY_DELAYED"])
    label: str
    buckets: list[str] = Field(description="What the reason may credit")


class CallerOut(BaseModel):
    """Who the bearer token names, and what the policy lets that role do."""

    user: str
    role: str
    may: list[str] = Field(description="Of read, grant, approve, claims", examples=[["read"]])
    max_per_appeasement: str | None = None
    max_per_order: str | None = None
    above_limit: str | None = Field(None, description="reject or hold")
    reasons: list[ReasonOut]
