"""contracts/ is generated from schemas/: JSON Schema, AsyncAPI, OpenAPI, one example per message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from schemas.consumed import CONSUMED
from schemas.examples import consumed_examples

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
DOC_SETTINGS = {"database_url": "postgresql://localhost/appeasement",
                "kafka_bootstrap_servers": "localhost:9092"}


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

    app = create_app(Settings(**DOC_SETTINGS))
    files = {
        f"json-schema/{method}.json": _dump(model.model_json_schema())
        for method, model in CONSUMED.items()
    }
    files.update(
        {f"examples/{method}.json": _dump(example) for method, example in consumed_examples().items()}
    )
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
