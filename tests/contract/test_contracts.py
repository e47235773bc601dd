"""contracts/ is what schemas/ generates; the examples are valid messages."""

from __future__ import annotations

import json

from schemas.consumed import CONSUMED
from schemas.envelope import read_envelope
from service import contracts
from service.service_layer.translate import to_event


def test_contracts_do_not_drift_from_schemas():
    drifted = contracts.drift()
    assert drifted == [], f"run `make contracts`; drifted: {drifted}"


def test_every_consumed_message_has_a_schema_and_an_example_that_reads():
    for method, model in CONSUMED.items():
        example = (contracts.CONTRACTS_DIR / "examples" / f"{method}.json").read_bytes()
        # the example validates against its model and reads into a domain event
        model.model_validate(json.loads(example))
        assert to_event(read_envelope(example)).order_id
        schema = json.loads((contracts.CONTRACTS_DIR / "json-schema" / f"{method}.json").read_text())
        assert schema["properties"]["method"]["const"] == method


def test_asyncapi_documents_every_consumed_topic():
    document = json.loads((contracts.CONTRACTS_DIR / "asyncapi.json").read_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert set(CONSUMED) <= addresses
