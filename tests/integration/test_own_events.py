"""The service's own refund events come back on the topic it consumes: skipped unread."""

from __future__ import annotations

import json

import pytest

from schemas.published import REFUND_UPDATED
from service import metrics
from service.domain.projection import ProjectionRules
from service.service_layer.dead_letters import InboundRecord
from service.service_layer.ingest import Projector
from tests.builders import unique
from tests.conftest import read_topic
from tests.integration.appeasing import TABLE_ORDER, given_order, grant

pytestmark = pytest.mark.integration


async def test_published_events_name_their_producer_and_are_skipped_unread(
    app, api, publish, infra
):
    # given a granted appeasement, published by the relay
    order_id = unique("OWN")
    await given_order(api, publish, order_id, TABLE_ORDER)
    granted = (await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                           "amounts": {"shipping": "5.90"}})).json()
    record = await read_topic(
        infra.bootstrap_servers, REFUND_UPDATED,
        lambda r: json.loads(r.value)["params"]["refund"]["credit_note_number"] == granted["id"],
    )
    # then it carries the producer header
    assert dict(record.headers)["x-producer"] == b"appeasement-service"
    # and when the projector meets it, it is counted and skipped before it is read
    database = app.state.service.database
    projector = Projector(database, ProjectionRules(), dead_letter_topic="dlq")
    before = metrics.OWN_EVENTS._value.get()
    await projector.handle([InboundRecord(
        record.topic, record.partition, record.offset, record.key, b"not even json",
        tuple(record.headers),
    )])
    assert metrics.OWN_EVENTS._value.get() == before + 1
    assert await database.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE topic = 'dlq'") == 0
