"""contracts/ is what schemas/ generates; the examples are valid messages."""

from __future__ import annotations

import json

from schemas.commands import COMMANDS, AppeasementCreate, CommandResult
from schemas.consumed import CONSUMED
from schemas.envelope import read_envelope
from schemas.published import REFUND_UPDATED, AppeasementRefundUpdated, OverCreditAlert
from service import contracts
from service.service_layer.commands import to_request
from service.service_layer.translate import to_event

EXAMPLES = contracts.CONTRACTS_DIR / "examples"
SCHEMAS = contracts.CONTRACTS_DIR / "json-schema"


def test_contracts_do_not_drift_from_schemas():
    drifted = contracts.drift()
    assert drifted == [], f"run `make contracts`; drifted: {drifted}"


def test_every_consumed_message_has_a_schema_and_an_example_that_reads():
    for method, model in CONSUMED.items():
        example = (EXAMPLES / "consumed" / f"{method}.json").read_bytes()
        # the example validates against its model and reads into a domain event
        model.model_validate(json.loads(example))
        assert to_event(read_envelope(example)).order_id
        schema = json.loads((SCHEMAS / "consumed" / f"{method}.json").read_text())
        assert schema["properties"]["method"]["const"] == method


def test_every_command_has_a_schema_and_an_example_that_reads():
    for method, model in COMMANDS.items():
        example = json.loads((EXAMPLES / "commands" / f"{method}.json").read_text())
        message = model.model_validate(example)
        schema = json.loads((SCHEMAS / "commands" / f"{method}.json").read_text())
        assert schema["properties"]["method"]["const"] == method
        if isinstance(message, AppeasementCreate):
            request = to_request(message.params.appeasement)
            assert request.reason == "ARTICLE_DEFECTIVE"
            assert request.lines and request.lines[0].percent == "20"


def test_published_examples_follow_their_schemas():
    event = json.loads((EXAMPLES / "published" / f"{REFUND_UPDATED}.json").read_text())
    refund = AppeasementRefundUpdated.model_validate(event).params.refund
    assert refund.refund_type == "Appeasement"
    assert refund.appeasement.amount == "99.80"
    alert = json.loads((EXAMPLES / "published" / "appeasement.alerts.json").read_text())
    assert OverCreditAlert.model_validate(alert).params.code == "OVER_CREDIT"
    for name in ("appeasement.command_results", "appeasement.command_results.error"):
        reply = CommandResult.model_validate_json((EXAMPLES / "published" / f"{name}.json").read_text())
        assert (reply.result is None) != (reply.error is None)


def test_asyncapi_documents_every_topic_in_and_out():
    document = json.loads((contracts.CONTRACTS_DIR / "asyncapi.json").read_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert set(CONSUMED) | set(COMMANDS) | {
        "appeasement.command_results", "appeasement.alerts", "appeasement.dead_letter"
    } <= addresses
    actions = {operation["action"] for operation in document["operations"].values()}
    assert actions == {"receive", "send"}


def test_openapi_documents_the_appeasement_api():
    document = json.loads((contracts.CONTRACTS_DIR / "openapi.json").read_text())
    assert {
        "/v1/orders/{order_id}/balance",
        "/v1/orders/{order_id}/appeasements/preview",
        "/v1/orders/{order_id}/appeasements",
        "/v1/appeasements/{appeasement_id}",
        "/v1/appeasements/{appeasement_id}/approve",
        "/v1/appeasements/{appeasement_id}/decline",
        "/v1/orders/{order_id}/claims",
        "/v1/claims/{claim_id}/close",
    } <= set(document["paths"])
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    grant = document["paths"]["/v1/orders/{order_id}/appeasements"]["post"]
    assert {"201", "200", "409", "422"} <= set(grant["responses"])


def test_openapi_documents_the_mcom_ingress():
    document = json.loads((contracts.CONTRACTS_DIR / "openapi.json").read_text())
    mcom = document["paths"]["/mcom"]["post"]
    assert {"200", "204", "401", "404", "413", "503"} <= set(mcom["responses"])
    assert mcom["security"] == [{"McomSharedSecret": []}]
    assert "method" in mcom["requestBody"]["content"]["application/json"]["schema"]["properties"]
