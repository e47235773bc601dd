"""The projector under faults: a database outage, and a message that fails mid-batch."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from schemas import consumed as wire
from service import metrics
from service.domain.projection import ProjectionRules
from service.service_layer.dead_letters import InboundRecord
from service.service_layer.ingest import Projector
from tests.builders import encode, jsonrpc, line, order, unique
from tests.conftest import eventually

pytestmark = pytest.mark.integration

DLQ = "appeasement.dead_letter"


async def letters_of(pool, topic: str) -> list[tuple[str, dict]]:
    """(message id, headers) of the dead letters queued for records of `topic`."""
    rows = await pool.fetch(
        "SELECT message_id, headers FROM outbox WHERE topic = $1 AND message_id LIKE $2 "
        "ORDER BY id", DLQ, f"dead-letter:{topic}:%",
    )
    return [(row["message_id"], json.loads(row["headers"])) for row in rows]


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


def record(
    order_id: str, product_type: str = "PHYSICAL", offset: int = 0,
    topic: str = wire.ORDER_CREATED,
) -> InboundRecord:
    message = jsonrpc(wire.ORDER_CREATED, {"order": order(
        order_id, [line("L1", 1, "10.00", "1.60", product_type=product_type)])})
    return InboundRecord(topic, 0, offset, order_id.encode(), encode(message))


async def known(pool, order_id: str):
    return await pool.fetchval("SELECT known FROM orders WHERE order_id = $1", order_id)


async def test_a_database_outage_pauses_and_retries_until_applied(app):
    # given a database that refuses the first two attempts
    database = app.state.service.database
    flaky = FlakyDatabase(database, failures=2)
    projector = Projector(flaky, ProjectionRules(), dead_letter_topic=DLQ, max_backoff=0.05)
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
    topic = unique("topic")
    projector = Projector(database, ExplodingRules(), dead_letter_topic=DLQ)
    good, bad = unique("GOOD"), unique("BAD")
    # when the batch is handled
    await projector.handle([record(good, offset=1, topic=topic),
                            record(bad, "EXPLODE", offset=2, topic=topic)])
    # then the good order is applied on its own
    assert await known(database.pool, good) is True
    # and the failed transaction left nothing of the bad order, not even its locked row
    assert await database.pool.fetchval("SELECT count(*) FROM orders WHERE order_id = $1", bad) == 0
    assert await database.pool.fetchval(
        "SELECT count(*) FROM inbox WHERE order_id = $1", bad) == 0
    # and the bad one is dead-lettered with the reason, through the outbox
    [(letter_id, headers)] = await letters_of(database.pool, topic)
    assert letter_id == f"dead-letter:{topic}:0:2"
    assert (headers["x-error-code"], headers["x-original-offset"]) == ("PROCESSING_FAILED", "2")
    assert "cannot map this product type" in headers["x-error-message"]


async def test_a_redelivered_poison_message_is_dead_lettered_once(app):
    # given a batch with a poison message, handled, then redelivered after a crash
    database = app.state.service.database
    topic = unique("topic")
    projector = Projector(database, ProjectionRules(), dead_letter_topic=DLQ)
    poison = InboundRecord(topic, 1, 7, b"K-1", b"{not json")
    batch = [poison, record(unique("AFTER"), offset=8, topic=topic)]
    await projector.handle(batch)
    await projector.handle(batch)
    # then it is queued for the dead-letter topic once, with its reason
    [(letter_id, headers)] = await letters_of(database.pool, topic)
    assert letter_id == f"dead-letter:{topic}:1:7"
    assert headers["x-error-code"] == "MALFORMED_JSON"


async def test_a_dead_letter_commits_with_its_batch(app):
    # given a database that refuses the first attempt
    database = app.state.service.database
    topic = unique("topic")
    flaky = FlakyDatabase(database, failures=1)
    projector = Projector(flaky, ProjectionRules(), dead_letter_topic=DLQ, max_backoff=0.05)
    order_id = unique("WITHLETTER")
    # when a batch of a poison message and an order is handled
    await projector.handle([InboundRecord(topic, 0, 1, None, b"[]"),
                            record(order_id, offset=2, topic=topic)])
    # then the dead letter and the order were written together, once
    assert await known(database.pool, order_id) is True
    assert [letter for letter, _ in await letters_of(database.pool, topic)] == [
        f"dead-letter:{topic}:0:1"
    ]


@pytest.mark.parametrize("lanes", [1, 2, 3])
async def test_a_batch_in_chunks_keeps_each_orders_events_in_their_order(app, lanes):
    # given a batch of 120 snapshots of 10 orders, each order's status date rising, with
    # every tenth message delivered twice, applied in chunks of 7, each chunk's orders in
    # `lanes` transactions side by side
    database = app.state.service.database
    ids = [unique("CHUNK") for _ in range(10)]
    batch: list[InboundRecord] = []
    for step in range(12):
        for number, order_id in enumerate(ids):
            message = jsonrpc(wire.ORDER_UPDATED, {"order": order(
                order_id, [line("L1", 1, f"{10 + step}.00", "1.60")],
                status_date=f"2026-11-20T10:{step:02d}:00Z",
            )}, f"{order_id}-{step}")
            copies = 2 if (step * 10 + number) % 10 == 0 else 1
            for _ in range(copies):
                batch.append(InboundRecord(wire.ORDER_UPDATED, 0, len(batch),
                                           order_id.encode(), encode(message)))
    projector = Projector(database, ProjectionRules(), dead_letter_topic=DLQ, chunk_records=7,
                          lanes=lanes)
    # when the batch is handled
    answers = await projector.handle(batch)
    # then every record has its answer, in order: each first delivery applied, each second
    # one a duplicate
    outcomes = [answer.result["outcome"] for answer in answers]
    assert len(answers) == len(batch) == 132
    assert outcomes.count("duplicate") == 12
    assert outcomes.count("applied") == 120
    # and each order holds its last snapshot
    rows = await database.pool.fetch(
        "SELECT order_id, gross_minor FROM order_lines WHERE order_id = ANY($1)", ids
    )
    assert {row["order_id"]: row["gross_minor"] for row in rows} == dict.fromkeys(ids, 2100)


async def known_in_two_lanes(projector: Projector) -> tuple[str, str]:
    """Two orders the projector puts into different lanes (of two), both applied."""
    held = unique("HELD")
    free = next(order_id for order_id in (unique("FREE") for _ in range(100))
                if hash(order_id) % 2 != hash(held) % 2)
    await projector.handle([record(held), record(free, offset=1)])
    return held, free


@contextlib.asynccontextmanager
async def row_locked(database, order_id: str):
    """The order's row locked, as a decision in progress holds it."""
    async with database.pool.acquire() as locker, locker.transaction():
        await locker.execute("SELECT 1 FROM orders WHERE order_id = $1 FOR UPDATE", order_id)
        yield


async def product_type(pool, order_id: str) -> str | None:
    return await pool.fetchval(
        "SELECT product_type FROM order_lines WHERE order_id = $1", order_id
    )


async def test_an_order_held_by_a_lock_holds_up_only_its_own_lane(app):
    # given two known orders that fall into different lanes, one of them locked by a
    # decision in progress
    database = app.state.service.database
    projector = Projector(database, ProjectionRules(), dead_letter_topic=DLQ, lanes=2)
    held, free = await known_in_two_lanes(projector)
    async with row_locked(database, held):
        # when a batch with news for both arrives
        handling = asyncio.create_task(projector.handle([
            record(held, "DIGITAL", offset=2), record(free, "DIGITAL", offset=3),
        ]))

        # then the free order's lane commits while the held one waits
        async def free_updated():
            return await product_type(database.pool, free) == "DIGITAL" or None

        assert await eventually(free_updated, timeout=5)
        assert not handling.done()
    # and once the lock is released the held order is applied too
    await asyncio.wait_for(handling, 5)
    assert await product_type(database.pool, held) == "DIGITAL"


async def test_a_held_lane_does_not_hold_up_the_other_lanes_later_chunks(app):
    # given two known orders in different lanes, one of them locked by a decision in
    # progress, and a projector that applies chunks of one record
    database = app.state.service.database
    projector = Projector(database, ProjectionRules(), dead_letter_topic=DLQ, lanes=2,
                          chunk_records=1)
    held, free = await known_in_two_lanes(projector)
    async with row_locked(database, held):
        # when a batch brings news for the held order first, then two updates of the free one
        handling = asyncio.create_task(projector.handle([
            record(held, "DIGITAL", offset=2), record(free, "DIGITAL", offset=3),
            record(free, "GIFT", offset=4),
        ]))

        # then the free order's lane goes on to its later chunk while the held one waits
        async def free_at_last_update():
            return await product_type(database.pool, free) == "GIFT" or None

        assert await eventually(free_at_last_update, timeout=5)
        assert not handling.done()
    answers = await asyncio.wait_for(handling, 5)
    assert [answer.result["outcome"] for answer in answers] == ["applied"] * 3
    assert await product_type(database.pool, held) == "DIGITAL"


async def row_versions(pool, order_id: str) -> list[str]:
    """The transaction ids that wrote the order's row and its lines' rows."""
    order_row = await pool.fetchval("SELECT xmin::text FROM orders WHERE order_id = $1", order_id)
    lines = await pool.fetch(
        "SELECT xmin::text FROM order_lines WHERE order_id = $1 ORDER BY line_id", order_id
    )
    return [order_row, *(row["xmin"] for row in lines)]


async def test_a_resent_snapshot_that_changes_nothing_rewrites_no_row(app):
    # given a projected order
    database = app.state.service.database
    projector = Projector(database, ProjectionRules(), dead_letter_topic=DLQ)
    order_id = unique("RESENT")
    await projector.handle([record(order_id)])
    written = await row_versions(database.pool, order_id)
    # when the OMS sends the same snapshot again under a new message id
    answers = await projector.handle([record(order_id, offset=1)])
    # then it is applied, and neither the order's row nor its line's row is written again
    assert answers[0].result["outcome"] == "applied"
    assert await row_versions(database.pool, order_id) == written
    # and a snapshot that changes the line does rewrite it
    await projector.handle([record(order_id, "DIGITAL", offset=2)])
    rewritten = await row_versions(database.pool, order_id)
    assert rewritten[0] == written[0] and rewritten[1] != written[1]


async def test_an_order_stored_by_another_transaction_meanwhile_is_folded_again(app):
    # given an order that another transaction is storing, not yet committed, with a
    # cancelled line the snapshot does not tell
    database = app.state.service.database
    projector = Projector(database, ProjectionRules(), dead_letter_topic=DLQ)
    order_id = unique("RACE")
    async with database.pool.acquire() as other:
        storing = other.transaction()
        await storing.start()
        await other.execute(
            "INSERT INTO orders (order_id, cancelled_line_ids) VALUES ($1, '{L9}')", order_id
        )
        # when the order's first snapshot is applied meanwhile (it sees no row, folds the
        # order from nothing and waits on the insert), and the other transaction commits
        handling = asyncio.create_task(projector.handle([record(order_id)]))
        await asyncio.sleep(0.5)
        assert not handling.done()
        await storing.commit()
    [answer] = await asyncio.wait_for(handling, 5)
    # then the snapshot is applied on the stored order: neither write is lost
    assert answer.result["outcome"] == "applied"
    row = await database.pool.fetchrow(
        "SELECT known, cancelled_line_ids FROM orders WHERE order_id = $1", order_id
    )
    assert (row["known"], row["cancelled_line_ids"]) == (True, ["L9"])
    assert await database.pool.fetchval(
        "SELECT count(*) FROM order_lines WHERE order_id = $1", order_id) == 1
