"""Bulk appeasements on the HTTP API: one request shape applied to many orders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from schemas.appeasements import Amount, BucketName, Percent
from schemas.base import FreeText, Reference

#: How many orders one bulk appeasement may select (a carrier's shipments, a CSV file).
MAX_BULK_ORDERS = 10_000
#: How many order ids a list in the body may name; more go in a CSV file.
MAX_LISTED_ORDERS = 500


def _one_of(choices: dict[str, tuple[str, ...]], fields: dict[str, Any]) -> list[Any]:
    """JSON Schema: each choice's fields given as `fields` says, every other field of the
    choices absent or null."""
    every = {name for names in choices.values() for name in names}
    return [
        {"required": list(names), "properties": {
            name: fields[name] if name in names else {"type": "null"} for name in sorted(every)
        }}
        for names in choices.values()
    ]


class BulkShape(BaseModel):
    """What each order gets: exactly one of `amounts`, `percent` or `shipping_in_full`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [
            {"amounts": {"shipping": "5.90"}}, {"percent": "10"}, {"shipping_in_full": True},
        ],
        "oneOf": _one_of(
            {"amounts": ("amounts",), "percent": ("percent",),
             "shipping": ("shipping_in_full",)},
            {"amounts": {"type": "object"}, "percent": {"type": "string"},
             "shipping_in_full": {"const": True}},
        ),
    })

    amounts: dict[BucketName, Amount] | None = Field(
        None, description="Order-level amounts per bucket, the same on every order"
    )
    percent: Percent | None = Field(None, description="Of each order's creditable product value")
    include_shipping: StrictBool = Field(False, description="With `percent`: of shipping too")
    shipping_in_full: Literal[True] | None = Field(
        None, description="Each order's creditable shipping, whatever it is"
    )

    @model_validator(mode="after")
    def exactly_one(self) -> BulkShape:
        given = [self.amounts is not None, self.percent is not None, bool(self.shipping_in_full)]
        if sum(given) != 1:
            raise ValueError("give exactly one of amounts, percent or shipping_in_full")
        return self


class BulkSelection(BaseModel):
    """Which orders: a list of ids, a CSV (one order id per row, first column, an optional
    `order_id` header), or the orders a carrier shipped between two moments."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [
            {"order_ids": ["000012345", "000012346"]},
            {"csv": "order_id\n000012345\n000012346\n"},
            {"carrier": "DHL", "shipped_from": "2026-11-20T00:00:00Z",
             "shipped_to": "2026-11-21T00:00:00Z"},
        ],
        "oneOf": _one_of(
            {"ids": ("order_ids",), "csv": ("csv",),
             "carrier": ("carrier", "shipped_from", "shipped_to")},
            {"order_ids": {"type": "array"}, "csv": {"type": "string"},
             "carrier": {"type": "string"}, "shipped_from": {"type": "string"},
             "shipped_to": {"type": "string"}},
        ),
    })

    order_ids: list[Reference] | None = Field(
        None, max_length=MAX_LISTED_ORDERS, description="More orders: use `csv`"
    )
    csv: str | None = Field(None, max_length=60_000, description="An uploaded CSV file's text")
    carrier: Reference | None = Field(None, description="A package carrier of the shipments")
    shipped_from: datetime | None = Field(None, description="Shipped at or after (with `carrier`)")
    shipped_to: datetime | None = Field(None, description="Shipped before (with `carrier`)")

    @field_validator("shipped_from", "shipped_to")
    @classmethod
    def in_utc(cls, value: datetime | None) -> datetime | None:
        """A moment without an offset is UTC."""
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    @model_validator(mode="after")
    def exactly_one(self) -> BulkSelection:
        given = [self.order_ids is not None, self.csv is not None, self.carrier is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of order_ids, csv or carrier")
        if self.carrier is not None and (self.shipped_from is None or self.shipped_to is None):
            raise ValueError("carrier needs shipped_from and shipped_to")
        if self.carrier is None and (self.shipped_from or self.shipped_to):
            raise ValueError("shipped_from and shipped_to go with carrier")
        return self


class BulkRequest(BaseModel):
    """Create a bulk appeasement: every selected order is dry-run at once; nothing is granted
    until it is run."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Carrier strike 20 Nov", "reason": "DELIVERY_DELAYED",
        "comment": "parcels held 3 days by the strike", "request": {"shipping_in_full": True},
        "selection": {"carrier": "DHL", "shipped_from": "2026-11-20T00:00:00Z",
                      "shipped_to": "2026-11-21T00:00:00Z"},
    }]})

    name: Reference
    reason: Reference = Field(examples=["DELIVERY_DELAYED"])
    comment: FreeText | None = None
    request: BulkShape
    selection: BulkSelection


class BulkPreviewOut(BaseModel):
    status: str = Field(description="PENDINGRELEASE, PENDINGAPPROVAL, or REFUSED")
    amount: str | None = None
    code: str | None = Field(None, description="The rule code of a refusal")
    message: str | None = None


class BulkItemOut(BaseModel):
    order_id: str
    status: str = Field(description="PENDING, GRANTED, HELD, REFUSED or CANCELLED")
    dry_run: BulkPreviewOut
    appeasement_id: str | None
    amount: str | None
    currency: str | None
    code: str | None = Field(description="The rule code of a refusal")
    message: str | None
    done_at: str | None


class BulkCounts(BaseModel):
    total: int
    done: int = Field(description="Granted, held or refused")
    pending: int
    granted: int
    held: int
    refused: int
    cancelled: int
    refused_by_code: dict[str, int]


class DryRunOut(BaseModel):
    would_grant: int
    would_hold: int
    would_refuse: int
    refused_by_code: dict[str, int]
    amount_by_currency: dict[str, str] = Field(description="What the grants and holds add up to")


class BulkOut(BaseModel):
    id: str
    name: str
    reason: str
    comment: str | None
    request: BulkShape
    selection: BulkSelection
    status: str = Field(description="DRAFT (dry run done), RUNNING, DONE or CANCELLED")
    created_by: str
    role: str
    created_at: str
    run_by: str | None
    started_at: str | None
    finished_at: str | None
    cancelled_by: str | None
    dry_run: DryRunOut
    progress: BulkCounts
    items: list[BulkItemOut]


class BulkSummaryOut(BaseModel):
    id: str
    name: str
    reason: str
    status: str
    created_by: str
    created_at: str
    progress: BulkCounts
