"""KPI reports: what was granted, refused and approved over a period, by one grouping."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from schemas.reports import GroupBy, ReportOut, ReportRowOut
from service.adapters import report_repo
from service.domain.balance import Amounts
from service.domain.errors import MalformedRequest
from service.domain.money import Currency, UnknownCurrency
from service.service_layer.ports import PoolSource

#: The longest period one report covers, and the days a report may name.
MAX_DAYS = 366
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


@dataclass
class _Row:
    """One group's figures in minor units, before they are shown."""

    key: str | None
    currency: str | None
    count: int = 0
    gross: int = 0
    tax: int = 0
    held: int = 0
    approved: int = 0
    declined: int = 0
    seconds_to_approve: Decimal = Decimal(0)
    by_status: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)

    def add(self, other: _Row) -> None:
        self.count += other.count
        self.gross += other.gross
        self.tax += other.tax
        self.held += other.held
        self.approved += other.approved
        self.declined += other.declined
        self.seconds_to_approve += other.seconds_to_approve
        self.by_status.update(other.by_status)
        self.refusals.update(other.refusals)


class Reports:
    def __init__(self, database: PoolSource) -> None:
        self._database = database

    async def appeasements(
        self, first_day: date | None, last_day: date | None, group_by: GroupBy,
        currency: str | None,
    ) -> ReportOut:
        for name, day in (("from", first_day), ("to", last_day)):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise MalformedRequest(
                    f"`{name}` is a day between {EARLIEST} and {LATEST}", field=name
                )
        last_day = last_day or datetime.now(UTC).date()
        first_day = first_day or last_day - timedelta(days=29)
        if first_day > last_day:
            raise MalformedRequest("`from` is after `to`", field="from")
        if (last_day - first_day).days >= MAX_DAYS:
            raise MalformedRequest(f"a report covers at most {MAX_DAYS} days", field="to")
        try:
            code = Currency.of(currency).code if currency else None
        except UnknownCurrency:
            raise MalformedRequest(
                f"unknown ISO 4217 currency {currency!r}", field="currency"
            ) from None
        start = datetime.combine(first_day, time(), UTC)
        end = datetime.combine(last_day + timedelta(days=1), time(), UTC)
        async with self._database.pool.acquire() as connection:
            sums = await report_repo.appeasements(connection, group_by, start, end, code)
            statuses = await report_repo.statuses(connection, group_by, start, end, code)
            refused = await report_repo.refusals(connection, group_by, start, end, code)
        rows: dict[tuple[str | None, str | None], _Row] = {}

        def row(key: str | None, row_currency: str | None) -> _Row:
            return rows.setdefault((key, row_currency), _Row(key, row_currency))

        for found in sums:
            each = row(found["key"], found["currency"])
            each.count = int(found["count"])
            each.gross, each.tax = int(found["gross_minor"]), int(found["tax_minor"])
            each.held, each.approved = int(found["held"]), int(found["approved"])
            each.declined = int(found["declined"])
            each.seconds_to_approve = Decimal(found["seconds_to_approve"])
        for found in statuses:
            row(found["key"], found["currency"]).by_status[found["status"]] = int(found["n"])
        for found in refused:
            row(found["key"], found["currency"]).refusals[found["code"]] += int(found["n"])
        ordered = sorted(rows.values(), key=lambda r: (r.key or "", r.currency or ""))
        totals: dict[str | None, _Row] = {}
        for each in ordered:
            totals.setdefault(each.currency, _Row("total", each.currency)).add(each)
        every_refusal: Counter[str] = Counter()
        for each in ordered:
            every_refusal.update(each.refusals)
        return ReportOut(
            period_from=first_day.isoformat(), period_to=last_day.isoformat(),
            group_by=group_by, currency=code,
            groups=[_out(each) for each in ordered],
            totals=[_out(each) for _, each in sorted(
                totals.items(), key=lambda item: item[0] or ""
            )],
            refusals_by_code=dict(sorted(every_refusal.items())),
        )


def _out(row: _Row) -> ReportRowOut:
    shown: Currency | None = Currency.of(row.currency) if row.currency else None
    amounts = Amounts(row.gross, row.tax)
    decided = row.approved + row.declined
    rate = None if not decided else str(
        (Decimal(100 * row.approved) / decided).quantize(Decimal("0.1"), ROUND_HALF_UP)
    )
    average = None if not row.approved else int(
        (row.seconds_to_approve / row.approved).quantize(Decimal(1), ROUND_HALF_UP)
    )
    return ReportRowOut(
        key=row.key, currency=row.currency, count=row.count,
        gross=shown.format(amounts.gross) if shown else None,
        net=shown.format(amounts.net) if shown else None,
        tax=shown.format(amounts.tax) if shown else None,
        by_status=dict(sorted(row.by_status.items())),
        refused=sum(row.refusals.values()),
        refusals_by_code=dict(sorted(row.refusals.items())),
        held=row.held, approved=row.approved, declined=row.declined,
        approval_rate=rate, average_seconds_to_approve=average,
    )


CSV_COLUMNS = (
    "group", "currency", "count", "gross", "net", "tax", "held", "approved", "declined",
    "approval_rate", "average_seconds_to_approve", "refused", "refusals_by_code",
)


def report_csv(report: ReportOut) -> str:
    """The groups, then one `total` row per currency."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in [*report.groups, *report.totals]:
        writer.writerow([
            row.key, row.currency, row.count, row.gross, row.net, row.tax, row.held,
            row.approved, row.declined, row.approval_rate, row.average_seconds_to_approve,
            row.refused, ";".join(f"{code}:{n}" for code, n in row.refusals_by_code.items()),
        ])
    return out.getvalue()
