"""Pure pieces of bulk appeasements and reports: reading a CSV of orders, writing a report."""

from __future__ import annotations

import csv
import io

from schemas.reports import ReportOut, ReportRowOut
from service.service_layer.bulk import orders_of_csv
from service.service_layer.bulk_runner import bulk_key
from service.service_layer.reports import report_csv


def test_the_first_column_of_a_csv_names_the_orders_after_an_optional_header():
    text = "order_id,carrier\n000012345,DHL\n\n 000012346 ,UPS\n,\n"
    assert orders_of_csv(text) == ["000012345", "000012346"]
    assert orders_of_csv("A-1\r\nA-2\r\n") == ["A-1", "A-2"]
    assert orders_of_csv("") == []


def test_a_bulk_grant_key_names_the_bulk_and_the_order():
    assert bulk_key("BLK-1", "000012345") == "bulk:BLK-1:000012345"


def row(key: str | None, **figures) -> ReportRowOut:
    base = dict(currency="EUR", count=2, gross="15.50", net="12.81", tax="2.69", by_status={},
                refused=1, refusals_by_code={"EXCEEDS_CREDITABLE_BALANCE": 1}, held=1,
                approved=1, declined=0, approval_rate="100.0", average_seconds_to_approve=42)
    return ReportRowOut(key=key, **{**base, **figures})


def test_a_report_as_csv_has_its_groups_then_a_total_per_currency():
    report = ReportOut(period_from="2026-11-01", period_to="2026-11-30", group_by="reason",
                       currency="EUR", groups=[row("DELIVERY_DELAYED")],
                       totals=[row("total")], refusals_by_code={})
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert [r["group"] for r in rows] == ["DELIVERY_DELAYED", "total"]
    assert rows[0]["gross"] == "15.50" and rows[0]["approval_rate"] == "100.0"
    assert rows[0]["refusals_by_code"] == "EXCEEDS_CREDITABLE_BALANCE:1"
