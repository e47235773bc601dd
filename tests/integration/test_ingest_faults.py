"""The projector under faults: a database outage, and a message that fails mid-batch."""

from __future__ import annotations

import pytest

from schemas import consumed as wire
from service import metrics
from service.domain.projection import ProjectionRules
from service.service_layer.ingest import DeadLetter, InboundRecord, Projector
from tests.builders import encode, jsonrpc, line, order, unique

pytestmark = pytest.mark.integration


class CollectedDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


class FlakyDatabase:
    """The real pool, unreachable for the first `failures` attempts."""

    def __init__(self, database, failures: int) -> None:
        self._database = database
        self.failures = failures

    @property
    def pool(self):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("database is restarting")
        return self._database.pool


class ExplodingRules(ProjectionRules):
    def bucket_of(self, product_type: str) -> str:
        if product_type == "EXPLODE":
            raise RuntimeError("cannot map this product type")
        return super().bucket_of(product_type)


def record(order_id: str, product_type: str = "PHYSICAL", offset: int = 0) -> InboundRecord:
    message = jsonrpc(wire.ORDER_CREATED, {"order": order(
        order_id, [line("L1", 1, "10.00", "1.60", product_type=product_type)])})
    return InboundRecord(wire.ORDER_CREATED, 0, offset, order_id.encode(), encode(message))


async def known(pool, order_id: str):
    return await pool.fetchval("SELECT known FROM orders WHERE order_id = $1", order_id)


async def test_a_database_outage_pauses_and_retries_until_applied(app):
    # given a database that refuses the first two attempts
    database = app.state.service.database
    flaky = FlakyDatabase(database, failures=2)
    projector = Projector(flaky, ProjectionRules(), CollectedDeadLetters(), max_backoff=0.05)
    retries_before = metrics.DB_RETRIES._value.get()
    order_id = unique("OUTAGE")
    # when a message is handled
    await projector.handle([record(order_id)])
    # then it is applied once the database answers, after two retries, and nothing is lost
    assert await known(database.pool, order_id) is True
    assert flaky.failures == 0
    assert metrics.DB_RETRIES._value.get() - retries_before == 2


async def test_a_failure_mid_batch_rolls_back_then_isolates_the_bad_message(app):
    # given a batch of a good order and one whose processing fails
    database = app.state.service.database
    letters = CollectedDeadLetters()
    projector = Projector(database, ExplodingRules(), letters)
    good, bad = unique("GOOD"), unique("BAD")
    # when the batch is handled
    await projector.handle([record(good, offset=1), record(bad, "EXPLODE", offset=2)])
    # then the good order is applied on its own
    assert await known(database.pool, good) is True
    # and the failed transaction left nothing of the bad order, not even its locked row
    assert await database.pool.fetchval("SELECT count(*) FROM orders WHERE order_id = $1", bad) == 0
    assert await database.pool.fetchval(
        "SELECT count(*) FROM inbox WHERE order_id = $1", bad) == 0
    # and the bad one is dead-lettered with the reason
    assert [(letter.code, letter.record.offset) for letter in letters.letters] == [
        ("PROCESSING_FAILED", 2)
    ]
    assert "cannot map this product type" in letters.letters[0].message
