"""MCOM messages for tests, with unique ids so tests can share one database and broker."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

_NUMBER = re.compile(r'"@number:([-0-9.eE+]+)"')


def encode(message: dict[str, Any], *, ascii_only: bool = True) -> bytes:
    """JSON with Decimal amounts as JSON numbers, digit for digit, as MCOM sends them; with
    `ascii_only` off, text is UTF-8 rather than escaped."""
    text = json.dumps(message, default=lambda value: f"@number:{value}", ensure_ascii=ascii_only)
    return _NUMBER.sub(r"\1", text).encode()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def line(
    line_id: str,
    number: int,
    gross: str,
    tax: str,
    *,
    product_type: str = "PHYSICAL",
    quantity: int = 1,
    status: str | None = "ALLOCATED",
    payment_status: str | None = "CAPTURED",
    rate: str = "21",
    currency: str = "EUR",
    payments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A line priced `gross` (tax inside) for all its units; paid in full unless told otherwise."""
    amount = {"gross_amount": Decimal(gross), "tax_amount": Decimal(tax),
              "tax_rate": Decimal(rate), "currency": currency}
    built: dict[str, Any] = {
        "id": line_id, "line_number": number, "product_type": product_type,
        "sku": f"SKU-{line_id}", "quantity": quantity, "product_name": f"Item {line_id}",
        "payment_reference": "PAY-1", "status": status, "amount": amount,
    }
    if payments is not None:
        built["payments"] = payments
    elif payment_status is not None:
        built["payments"] = [payment(gross, tax, payment_status, currency)]
    return built


def payment(gross: str, tax: str, status: str, currency: str = "EUR") -> dict[str, Any]:
    return {"payment_reference": "PAY-1", "gross_amount": Decimal(gross),
            "tax_amount": Decimal(tax), "currency": currency, "status": status}


def order(
    order_id: str,
    lines: list[dict[str, Any]],
    *,
    status: str = "PROCESSING",
    status_reason: str | None = None,
    status_date: str = "2026-11-20T10:00:00Z",
    currency: str = "EUR",
    store: str = "eu-web",
    authorization_status: str = "CAPTURED",
    payment_method: str = "credit_card",
    customer_id: str | None = None,
) -> dict[str, Any]:
    """Each order has its own customer unless told otherwise, so per-customer limits of one
    test never reach into another's."""
    return {
        "id": order_id, "store": store, "status": status, "status_reason": status_reason,
        "status_date": status_date, "language": "de_DE", "vat_country": "DE",
        "customer": {"id": customer_id or f"C-{order_id}", "type": "B2C"},
        "addresses": [{"reference": "A1", "address_type": "BILLING", "email": "ana@example.com"}],
        "payments": [{"reference": "PAY-1", "currency": currency, "transactions": [
            {"payment_method": payment_method, "amount": Decimal("0"),
             "gateway_information": {"transaction_id": "T1",
                                     "authorization_status": authorization_status}}]}],
        "lines": lines,
    }


def refund(
    order_id: str,
    credit_note: str,
    pieces: list[tuple[str, str, str]],
    *,
    status: str = "RELEASED",
    refund_type: str = "Return",
    rma: str | None = None,
    client: str = "oms",
) -> dict[str, Any]:
    """`pieces` are (order line id, cost_gross, cost_vat)."""
    return {
        "client": client, "order_id": order_id, "store_id": "eu-web",
        "credit_note_number": credit_note, "credit_note_date": "2026-11-23",
        "status": {"code": status, "date": "2026-11-23"}, "refund_type": refund_type,
        "rma": rma, "lines": [
            {"order_line": line_id, "reason_description": "",
             "payments": [{"ref": "PAY-1", "details": {"cost_gross": gross, "cost_vat": vat}}]}
            for line_id, gross, vat in pieces
        ],
    }


def return_(order_id: str, rma: str, line_numbers: list[int], status: str | None) -> dict[str, Any]:
    built: dict[str, Any] = {
        "sales_channel_id": "eu-web", "order_id": order_id, "rma": rma,
        "lines": [{"id": f"R{n}", "line_number": n, "sku": "X", "reason": "DAMAGED",
                   "reason_description": "", "condition": "OK"} for n in line_numbers],
    }
    if status is not None:
        built["status"] = {"code": status, "date": "2026-11-22T08:00:00Z"}
    return built


def jsonrpc(method: str, params: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id or unique("MSG"), "method": method, "params": params}
