"""KPI reports on appeasements: counts, sums, refusals and approvals, by one grouping."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

GroupBy = Literal["reason", "user", "role", "day", "status"]


class ReportRowOut(BaseModel):
    key: str | None = Field(description="The group: a reason, user, role, day or status")
    currency: str | None = Field(description="Amounts are summed per currency")
    count: int = Field(description="Appeasements created in the period, whatever their status")
    gross: str | None = Field(examples=["99.80"])
    net: str | None
    tax: str | None
    by_status: dict[str, int]
    refused: int = Field(description="Commands refused by a rule (nothing was reserved)")
    refusals_by_code: dict[str, int]
    held: int = Field(description="Appeasements held for approval (four eyes)")
    approved: int
    declined: int
    approval_rate: str | None = Field(
        None, description="approved / (approved + declined), as a percentage; null when none "
        "was decided", examples=["75.0"],
    )
    average_seconds_to_approve: int | None = Field(
        None, description="From held to approved, on average"
    )


class ReportOut(BaseModel):
    period_from: str = Field(description="First day, inclusive (UTC)")
    period_to: str = Field(description="Last day, inclusive (UTC)")
    group_by: GroupBy
    currency: str | None
    groups: list[ReportRowOut]
    totals: list[ReportRowOut] = Field(description="All groups together, one row per currency")
    refusals_by_code: dict[str, int]
