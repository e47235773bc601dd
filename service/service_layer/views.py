"""How an appeasement is shown: on the HTTP API, in command replies, in refund events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.api import AmountsOut
from schemas.appeasements import (
    AllocationOut,
    AppeasementOut,
    PreviewOut,
    RefundMethod,
    TransitionOut,
)
from schemas.published import (
    AppeasementExtension,
    AppeasementRefund,
    AppeasementRefundParams,
    AppeasementRefundUpdated,
    CostDetails,
    CustomerOut,
    Goodwill,
    GoodwillItem,
    LineStatus,
    RefundLine,
    RefundPayment,
    RefundStatus,
)
from service.domain.allocation import allocate
from service.domain.appeasement import Allocation, Piece
from service.domain.balance import Amounts
from service.domain.lifecycle import PENDING_RELEASE, STATUS_NAMES
from service.domain.money import Currency
from service.domain.projection import OrderState


def amounts_out(currency: Currency, amounts: Amounts) -> AmountsOut:
    return AmountsOut(
        gross=currency.format(amounts.gross),
        net=currency.format(amounts.net),
        tax=currency.format(amounts.tax),
    )


def allocation_out(currency: Currency, pieces: Sequence[Piece]) -> list[AllocationOut]:
    return [
        AllocationOut(
            order_line=p.order_line, bucket=p.bucket, gross=currency.format(p.gross),
            net=currency.format(p.net), tax=currency.format(p.tax),
            tax_rate=None if p.tax_rate is None else _rate(p.tax_rate),
        )
        for p in pieces
    ]


def preview_out(
    order_id: str, currency: Currency, reason: str, allocation: Allocation,
    status: str = PENDING_RELEASE,
) -> PreviewOut:
    total = allocation.total
    return PreviewOut(
        order_id=order_id, currency=currency.code, taxation=allocation.taxation, reason=reason,
        amount=currency.format(total.gross), totals=amounts_out(currency, total),
        allocation=allocation_out(currency, allocation.pieces), status=status,
    )


def appeasement_out(record: dict[str, Any]) -> AppeasementOut:
    currency = Currency.of(record["currency"])
    pieces: list[Piece] = record["pieces"]
    total = sum((Amounts(p.gross, p.tax) for p in pieces), Amounts())
    return AppeasementOut(
        id=record["appeasement_id"], order_id=record["order_id"], command_id=record["command_id"],
        status=record["status"], reason=record["reason"], comment=record["comment"],
        claim_id=record["claim_id"], invoice_reference=record["invoice_reference"],
        requested_by=record["requested_by"], role=record["role"],
        approved_by=record["approved_by"], currency=currency.code,
        taxation=record["taxation"], amount=currency.format(record["amount_minor"]),
        totals=amounts_out(currency, total), allocation=allocation_out(currency, pieces),
        refund_method=record["refund_method"], created_at=iso(record["created_at"]),
        transitions=[
            TransitionOut(
                from_status=t["from_status"], to_status=t["to_status"], actor=t["actor"],
                role=t["role"], reason=t["reason"], comment=t["comment"], at=iso(t["at"]),
            )
            for t in record["transitions"]
        ],
    )


def refund_event(
    record: dict[str, Any], order: OrderState, *, event_id: str, status_reason: str,
    service_name: str, today: datetime | None = None,
) -> AppeasementRefundUpdated:
    """The MCOM refund_management.updated message for the appeasement's current status."""
    currency = Currency.of(record["currency"])
    day = (today or datetime.now(UTC)).date().isoformat()
    status = record["status"]
    pieces: list[Piece] = record["pieces"]
    by_line: dict[str, Amounts] = {}
    rates: dict[str, Any] = {}
    units: dict[str, int | None] = {}
    for piece in pieces:
        by_line[piece.order_line] = by_line.get(piece.order_line, Amounts()) + Amounts(
            piece.gross, piece.tax
        )
        rates.setdefault(piece.order_line, piece.tax_rate)
        units[piece.order_line] = piece.quantity if piece.order_line not in units else None
    method = RefundMethod.model_validate(
        record["refund_method"]
        or {"type": "original_payment", "payment_reference": order.payment_reference}
    )
    lines: list[RefundLine] = []
    items: list[GoodwillItem] = []
    for line_id, amount in by_line.items():
        line = order.lines.get(line_id)
        rate = None if rates[line_id] is None else _rate(rates[line_id])
        lines.append(RefundLine(
            order_line=line_id,
            order_item_id=line.sku if line else None,
            reason=record["reason"],
            reason_description=record["comment"] or "",
            payments=[RefundPayment(
                ref=(line.payment_reference if line else None) or order.payment_reference,
                details=CostDetails(
                    cost_gross=currency.format(amount.gross),
                    cost_net=currency.format(amount.net),
                    cost_vat=currency.format(amount.tax),
                    vat_rate=rate,
                ),
                status=LineStatus(code=status),
            )],
        ))
        items.extend(
            GoodwillItem(
                orderItemReference=line_id,
                grossUnitPrice=currency.format(unit_gross),
                quantity=quantity,
                vatAmount=currency.format(tax),
                vatPercent=rate,
                vatType="NORMAL" if tax else "ZERO",
            )
            for unit_gross, quantity, tax in goodwill_units(amount, units[line_id] or 1)
        )
    total = sum(by_line.values(), Amounts())
    refund = AppeasementRefund(
        client=service_name,
        order_id=record["order_id"],
        store_id=order.store,
        sales_channel_id=order.store,
        credit_note_number=record["appeasement_id"],
        credit_note_date=iso(record["created_at"])[:10],
        status=RefundStatus(
            code=status, name=STATUS_NAMES.get(status, status), reason_code=status_reason,
            date=day,
        ),
        user=record["requested_by"],
        refund_reason=record["reason"],
        lines=lines,
        appeasement=AppeasementExtension(
            id=record["appeasement_id"],
            command_id=record["command_id"],
            role=record["role"],
            approved_by=record["approved_by"],
            claim_id=record["claim_id"],
            comment=record["comment"],
            currency=currency.code,
            amount=currency.format(total.gross),
            taxation=record["taxation"],
            allocation=allocation_out(currency, pieces),
            customer=CustomerOut(
                id=order.customer.id, email=order.customer.email,
                language=order.customer.language,
            ),
            refund_method=method,
            goodwill=Goodwill(
                goodwillReference=record["appeasement_id"],
                goodwillDate=day,
                goodwillReason=record["reason"],
                invoiceReference=record["invoice_reference"],
                items=items,
            ),
        ),
    )
    return AppeasementRefundUpdated(id=event_id, params=AppeasementRefundParams(refund=refund))


def goodwill_units(amount: Amounts, quantity: int) -> list[tuple[int, int, int]]:
    """(gross unit price, quantity, VAT) items whose totals are exactly `amount`.

    `quantity` units at one price when the gross divides evenly; else the units at the
    lower price and the rest one cent up, so that unit price x quantity adds up.
    """
    low, extra = divmod(amount.gross, quantity)
    groups = [(low, quantity - extra), (low + 1, extra)] if extra else [(low, quantity)]
    taxes = allocate(amount.tax, [price * count for price, count in groups])
    return [(price, count, tax) for (price, count), tax in zip(groups, taxes, strict=True)]


def _rate(rate: Any) -> str:
    text = format(rate.normalize(), "f") if hasattr(rate, "normalize") else str(rate)
    return text


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
