"""How a bulk appeasement is shown: progress, dry run, per-order results, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import asyncpg

from schemas.bulk import (
    BulkCounts,
    BulkItemOut,
    BulkOut,
    BulkPreviewOut,
    BulkSelection,
    BulkShape,
    DryRunOut,
)
from service.domain.lifecycle import PENDING_APPROVAL
from service.service_layer.bulk_runner import CANCELLED, GRANTED, HELD, PENDING, REFUSED
from service.service_layer.views import iso


def counts_out(rows: list[tuple[str, str | None, int]]) -> BulkCounts:
    by_status: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for status, code, n in rows:
        by_status[status] += n
        if status == REFUSED:
            refused[code or "UNKNOWN"] += n
    done = by_status[GRANTED] + by_status[HELD] + by_status[REFUSED]
    return BulkCounts(
        total=sum(by_status.values()), done=done, pending=by_status[PENDING],
        granted=by_status[GRANTED], held=by_status[HELD], refused=by_status[REFUSED],
        cancelled=by_status[CANCELLED], refused_by_code=dict(sorted(refused.items())),
    )


def _dry_run(rows: list[asyncpg.Record]) -> DryRunOut:
    by_status = Counter(row["preview_status"] for row in rows)
    refused = Counter(row["preview_code"] for row in rows if row["preview_status"] == REFUSED)
    amounts: dict[str, Decimal] = {}
    for row in rows:
        if row["preview_status"] != REFUSED and row["preview_amount"] is not None:
            amounts[row["currency"]] = amounts.get(row["currency"], Decimal(0)) + Decimal(
                row["preview_amount"]
            )
    return DryRunOut(
        would_grant=by_status.get("PENDINGRELEASE", 0),
        would_hold=by_status.get(PENDING_APPROVAL, 0),
        would_refuse=by_status.get(REFUSED, 0),
        refused_by_code=dict(sorted(refused.items())),
        amount_by_currency={code: str(total) for code, total in sorted(amounts.items())},
    )


def bulk_out(bulk: asyncpg.Record, rows: list[asyncpg.Record]) -> BulkOut:
    def when(value: Any) -> str | None:
        return None if value is None else iso(value)

    return BulkOut(
        id=bulk["bulk_id"], name=bulk["name"], reason=bulk["reason"], comment=bulk["comment"],
        request=BulkShape.model_validate(json.loads(bulk["shape"])),
        selection=BulkSelection.model_validate(json.loads(bulk["selection"])),
        status=bulk["status"], created_by=bulk["created_by"], role=bulk["role"],
        created_at=iso(bulk["created_at"]), run_by=bulk["run_by"],
        started_at=when(bulk["started_at"]), finished_at=when(bulk["finished_at"]),
        cancelled_by=bulk["cancelled_by"],
        dry_run=_dry_run(rows),
        progress=counts_out([(row["status"], row["code"], 1) for row in rows]),
        items=[
            BulkItemOut(
                order_id=row["order_id"], status=row["status"],
                dry_run=BulkPreviewOut(
                    status=row["preview_status"], amount=row["preview_amount"],
                    code=row["preview_code"], message=row["preview_message"],
                ),
                appeasement_id=row["appeasement_id"], amount=row["amount"],
                currency=row["currency"], code=row["code"], message=row["message"],
                done_at=when(row["done_at"]),
            )
            for row in rows
        ],
    )


BULK_CSV_COLUMNS = (
    "order_id", "status", "appeasement_id", "amount", "currency", "code", "message",
    "dry_run_status", "dry_run_amount", "dry_run_code",
)


def bulk_csv(bulk: BulkOut) -> str:
    """One row per order: what the run did, and what the dry run said."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BULK_CSV_COLUMNS)
    for item in bulk.items:
        writer.writerow([
            item.order_id, item.status, item.appeasement_id, item.amount, item.currency,
            item.code, item.message, item.dry_run.status, item.dry_run.amount,
            item.dry_run.code,
        ])
    return out.getvalue()
