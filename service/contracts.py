"""contracts/ is generated from schemas/: JSON Schema, AsyncAPI, OpenAPI, one example per message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from schemas.commands import COMMANDS, CommandResult
from schemas.consumed import CONSUMED
from schemas.examples import command_examples, consumed_examples
from schemas.published import (
    REFUND_UPDATED,
    AppeasementRefundUpdated,
    OverCreditAlert,
    QuarantineAlert,
)

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
DOC_SETTINGS: dict[str, Any] = {"database_url": "postgresql://localhost/appeasement",
                "kafka_bootstrap_servers": "localhost:9092",
                "auth_jwt_key": "documentation-only",
                "bank_details_key": "ZG9jdW1lbnRhdGlvbi1vbmx5LWtleS0zMi1ieXRlcyE="}


def asyncapi_document(broker: KafkaBroker, version: str) -> dict[str, Any]:
    """FastStream's AsyncAPI 3.0 document; batch consumers are documented per Kafka message."""
    document = AsyncAPI(
        broker,
        title="Appeasement service",
        version=version,
        description="Consumes MCOM order, return, refund and shipment events (JSON-RPC 2.0).",
    ).to_specification().to_jsonable()
    for schema in document.get("components", {}).get("schemas", {}).values():
        items = schema.get("items")
        if schema.get("type") == "array" and isinstance(items, dict):
            title = schema.get("title")
            schema.clear()
            schema.update(items)
            schema["title"] = title or items.get("title")
    return document


def render() -> dict[str, str]:
    """Every file of contracts/, by relative path, as it must be on disk."""
    from service.bootstrap import create_app
    from service.settings import Settings

    settings = Settings(**DOC_SETTINGS)
    app = create_app(settings)
    results = settings.command_results_topic
    schemas: dict[str, type[BaseModel]] = {
        **{f"consumed/{method}": model for method, model in CONSUMED.items()},
        **{f"commands/{method}": model for method, model in COMMANDS.items()},
        f"published/{REFUND_UPDATED}": AppeasementRefundUpdated,
        f"published/{results}": CommandResult,
        f"published/{settings.alerts_topic}": OverCreditAlert,
        f"published/{settings.alerts_topic}.quarantine": QuarantineAlert,
    }
    examples = {
        **{f"consumed/{method}": example for method, example in consumed_examples().items()},
        **{f"commands/{method}": example for method, example in command_examples().items()},
        **published_examples(settings.service_name, results),
        f"published/{settings.alerts_topic}": OverCreditAlert.model_validate({
            "id": "9a1b7c2d-0000-4000-8000-000000000003",
            "params": {"order_id": "000012345", "order_line": "L2", "bucket": "product",
                       "amount": "19.95", "currency": "EUR", "credit_note_number": "CN-5001",
                       "appeasement_ids": ["APP-01JD3Y8ZS"]},
        }).model_dump(mode="json"),
        f"published/{settings.alerts_topic}.quarantine": QuarantineAlert.model_validate({
            "id": "quarantine:4711:8",
            "params": {"outbox_id": 4711, "topic": REFUND_UPDATED, "key": "000012345",
                       "message_id": "9a1b7c2d-0000-4000-8000-000000000001", "attempts": 8,
                       "error": "MessageSizeTooLargeError()"},
        }).model_dump(mode="json"),
    }
    files = {
        f"json-schema/{name}.json": _dump(model.model_json_schema())
        for name, model in schemas.items()
    }
    files.update({f"examples/{name}.json": _dump(example) for name, example in examples.items()})
    files["asyncapi.json"] = _dump(asyncapi_document(app.state.service.broker, app.version))
    files["openapi.json"] = _dump(app.openapi())
    return files


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(directory: Path = CONTRACTS_DIR) -> list[str]:
    files = render()
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(files)


def drift(directory: Path = CONTRACTS_DIR) -> list[str]:
    """Files that differ from what schemas/ generates (missing, changed or stale)."""
    files = render()
    on_disk = {
        str(path.relative_to(directory)): path.read_text()
        for path in directory.rglob("*.json")
    }
    return sorted(
        name for name in set(files) | set(on_disk) if files.get(name) != on_disk.get(name)
    )


def published_examples(service_name: str, results_topic: str) -> dict[str, Any]:
    """The event and replies for the example order's 20 % table appeasement, made by the code
    that makes the real ones."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from schemas.consumed import ORDER_CREATED
    from schemas.envelope import read_envelope
    from schemas.examples import order, request
    from service.domain.appeasement import LineAsk, LinesAsk, plan
    from service.domain.balance import compute_balance
    from service.domain.projection import OrderState, ProjectionRules
    from service.service_layer.translate import to_event
    from service.service_layer.views import appeasement_out, refund_event

    rules = ProjectionRules(service_name=service_name)
    state = OrderState("000012345")
    message = request(ORDER_CREATED, {"order": order()}, "msg-0001")
    state.apply(to_event(read_envelope(json.dumps(message).encode())), rules)
    allocation = plan(compute_balance(state), LinesAsk((LineAsk("L1", percent=Decimal(20)),)))
    created = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)
    record = {
        "appeasement_id": "APP-01JD3Y8ZQ", "order_id": state.order_id,
        "command_id": "b7c1e0d2-5f7a-4c1e-9d1b-4f0c2a9e8a11", "status": "PENDINGRELEASE",
        "reason": "ARTICLE_DEFECTIVE", "comment": "scratch on top", "claim_id": "CLM-3",
        "invoice_reference": "INV-1234322", "refund_method": None,
        "requested_by": "agent-42", "role": "agent", "approved_by": None,
        "currency": "EUR", "taxation": allocation.taxation,
        "amount_minor": allocation.total.gross, "created_at": created,
        "pieces": list(allocation.pieces),
        "transitions": [{"from_status": None, "to_status": "PENDINGRELEASE",
                         "actor": "agent-42", "role": "agent", "reason": "ARTICLE_DEFECTIVE",
                         "comment": "scratch on top", "at": created}],
    }
    event = refund_event(record, state, event_id="5d0f3c9e-2b1a-4e57-9a53-0c7f1f3e2d10",
                         status_reason="REQUESTED", service_name=service_name, today=created)
    granted = CommandResult(
        id=record["command_id"],
        result={"appeasement": appeasement_out(record).model_dump(mode="json")},
    )
    refused = CommandResult.model_validate({
        "id": "c3d2a1f0-0000-4000-8000-000000000002",
        "error": {"code": -32000, "message": "6.00 asked on line L3, 5.90 creditable",
                  "data": {"code": "EXCEEDS_CREDITABLE_BALANCE", "bucket": "shipping",
                           "line": "L3", "requested": "6.00", "available": "5.90"}},
    })
    return {
        f"published/{REFUND_UPDATED}": event.model_dump(mode="json"),
        f"published/{results_topic}": granted.model_dump(mode="json", exclude_none=True),
        f"published/{results_topic}.error": refused.model_dump(mode="json", exclude_none=True),
    }
