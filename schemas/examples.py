"""One realistic message per type: written to contracts/examples and used by `make demo`."""

from __future__ import annotations

from typing import Any

from schemas import commands
from schemas import consumed as wire


def order(order_id: str = "000012345", status_date: str = "2026-11-20T09:15:00Z") -> dict[str, Any]:
    """A gross-taxed EU order: an oak table, two candles and the shipping, all captured."""
    return {
        "id": order_id,
        "store": "eu-web",
        "status": "PROCESSING",
        "status_date": status_date,
        "origin_date": "2026-11-20T09:14:00Z",
        "language": "de_DE",
        "vat_country": "NL",
        "customer": {"id": "C-981", "type": "B2C", "segment": "gold"},
        "addresses": [
            {"reference": "A1", "address_type": "BILLING", "email": "ana@example.com"},
        ],
        "payments": [
            {
                "reference": "PAY-1",
                "currency": "EUR",
                "transactions": [
                    {
                        "payment_method": "credit_card",
                        "amount": 544.80,
                        "gateway_information": {
                            "transaction_id": "T-1",
                            "authorization_status": "CAPTURED",
                        },
                    }
                ],
            }
        ],
        "lines": [
            _line("L1", 1, "PHYSICAL", "TABLE-OAK", 1, 499.00, 86.60, "Oak table"),
            _line("L2", 2, "PHYSICAL", "CANDLE", 2, 39.90, 6.92, "Candle"),
            _line("L3", 3, "SHIPPING", "SHIP-STD", 1, 5.90, 1.02, "Standard shipping"),
        ],
    }


def _line(
    line_id: str, number: int, product_type: str, sku: str, quantity: int,
    gross: float, tax: float, name: str,
) -> dict[str, Any]:
    net = round(gross - tax, 2)
    return {
        "id": line_id,
        "line_number": number,
        "product_type": product_type,
        "sku": sku,
        "quantity": quantity,
        "product_name": name,
        "payment_reference": "PAY-1",
        "status": "ALLOCATED",
        "amount": {
            "gross_amount": gross, "net_amount": net, "tax_amount": tax, "tax_rate": 21,
            "taxes": [{"type": "VAT", "amount": tax, "rate": 21}], "currency": "EUR",
        },
        "payments": [
            {
                "payment_reference": "PAY-1", "gross_amount": gross, "net_amount": net,
                "tax_amount": tax, "tax_rate": 21, "currency": "EUR", "status": "CAPTURED",
            }
        ],
    }


def request(method: str, params: dict[str, Any], message_id: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "method": method, "params": params}


def consumed_examples(order_id: str = "000012345") -> dict[str, dict[str, Any]]:
    return {
        wire.ORDER_CREATED: request(wire.ORDER_CREATED, {"order": order(order_id)}, "msg-0001"),
        wire.ORDER_UPDATED: request(
            wire.ORDER_UPDATED, {"order": order(order_id, "2026-11-21T10:00:00Z")}, "msg-0002"
        ),
        wire.LINE_CANCELLED: request(
            wire.LINE_CANCELLED, {"order_id": order_id, "order_line_id": "L2"}, "msg-0003"
        ),
        wire.RETURN_UPDATED: request(wire.RETURN_UPDATED, {"return": _return(order_id)}, "msg-0004"),
        wire.RETURN_RECEIVED: request(
            wire.RETURN_RECEIVED,
            {"return": {k: v for k, v in _return(order_id).items() if k != "status"}},
            "msg-0005",
        ),
        wire.REFUND_UPDATED: request(wire.REFUND_UPDATED, {"refund": _refund(order_id)}, "msg-0006"),
        wire.SHIPMENT_DONE: request(
            wire.SHIPMENT_DONE,
            {
                "shipment": {
                    "order_id": order_id,
                    "shipment_date": "2026-11-21T16:00:00Z",
                    "method": "STANDARD",
                    "items": [
                        {"order_line_id": "L1", "order_line_number": 1, "status": "SHIPPED"},
                    ],
                    "packages": [
                        {"carrier": "DHL", "tracking_number": "JD0001",
                         "tracking_link": "https://tracking.example.com/JD0001"},
                    ],
                }
            },
            "msg-0007",
        ),
    }


def _return(order_id: str) -> dict[str, Any]:
    return {
        "sales_channel_id": "eu-web",
        "order_id": order_id,
        "rma": "RMA-77",
        "user": "warehouse-bot",
        "status": {"code": "REQUESTED", "reason_code": "DAMAGED", "date": "2026-11-22T08:00:00Z"},
        "lines": [{"id": "L2", "line_number": 2, "sku": "CANDLE", "reason": "DAMAGED",
                   "condition": "BROKEN"}],
    }


def _refund(order_id: str) -> dict[str, Any]:
    return {
        "client": "oms",
        "order_id": order_id,
        "store_id": "eu-web",
        "credit_note_number": "CN-5001",
        "credit_note_date": "2026-11-23",
        "status": {"code": "RELEASED", "name": "Released", "date": "2026-11-23"},
        "refund_type": "Return",
        "rma": "RMA-77",
        "user": "oms",
        "refund_reason": "DAMAGED",
        "lines": [
            {
                "order_line": "L2", "order_item_id": "CANDLE", "reason": "DAMAGED",
                "reason_description": "broken candle",
                "payments": [
                    {"ref": "PAY-1",
                     "details": {"cost_gross": "19.95", "cost_net": "16.49", "cost_vat": "3.46",
                                 "vat_rate": "21"},
                     "status": {"code": "RELEASED"}},
                ],
            }
        ],
    }


def command_examples(order_id: str = "000012345") -> dict[str, dict[str, Any]]:
    """MCOM's appeasement command (20 % of the scratched table) and the PSP's outcomes."""
    outcome = {"sales_channel_id": "eu-web", "order_id": order_id,
               "credit_note_number": "APP-01JD3Y8ZQ", "user": "psp-adyen", "offline": False}
    return {
        commands.APPEASEMENT_CREATE: request(
            commands.APPEASEMENT_CREATE,
            {"appeasement": {
                "sales_channel_id": "eu-web", "order_id": order_id, "user": "agent-42",
                "origin_date": "2026-11-22T10:00:00Z",
                "lines": [{"id": "L1", "line_number": 1, "percent": 20,
                           "reason": "ARTICLE_DEFECTIVE",
                           "reason_description": "scratch on top"}],
                "custom_attributes": [],
                "role": "agent", "claim_id": "CLM-3", "invoice_reference": "INV-1234322",
            }},
            "b7c1e0d2-5f7a-4c1e-9d1b-4f0c2a9e8a11",
        ),
        commands.APPEASEMENT_APPROVE: request(
            commands.APPEASEMENT_APPROVE,
            {"appeasement_id": "APP-01JD3Y8ZQ", "user": "lead-7", "role": "lead",
             "comment": "photos checked"},
            "c0ffee00-0000-4000-8000-000000000001",
        ),
        commands.APPEASEMENT_DECLINE: request(
            commands.APPEASEMENT_DECLINE,
            {"appeasement_id": "APP-01JD3Y8ZR", "user": "lead-7", "role": "lead",
             "comment": "already compensated by voucher"},
            "c0ffee00-0000-4000-8000-000000000002",
        ),
        commands.REFUND_RELEASE: request(commands.REFUND_RELEASE, outcome, "psp-0001"),
        commands.REFUND_CANCEL: request(commands.REFUND_CANCEL, outcome, "psp-0002"),
    }
