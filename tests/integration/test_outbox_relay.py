"""The outbox relay on the real database: in order per key, once, through broker errors."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from service import metrics
from service.adapters import outbox
from service.adapters.db import Database, migrate
from service.adapters.outbox import BrokerUnavailable
from service.service_layer.outbox_retention import OutboxRetention
from service.service_layer.relay import OutboxRelay
from tests.conftest import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(infra) -> AsyncIterator[Database]:
    """A database of its own, so the running service's relay does not take these rows."""
    name = f"relay_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(infra.database_url)
    await admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(infra.database_url)
    scratch = Database(urlunsplit(parts._replace(path=f"/{name}")))
    await scratch.connect()
    await migrate(scratch.pool)
    yield scratch
    await scratch.close()
    await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    await admin.close()


class Recorder:
    """A broker that records what it was given; it can fail on chosen messages, or be slow."""

    def __init__(self, failures: dict[str, int] | None = None, jitter: float = 0.0) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures = dict(failures or {})
        self.jitter = jitter
        self.poison: set[str] = set()

    async def publish(
        self, topic: str, key: bytes | None, payload: bytes, message_id: str,
        headers: dict[str, str],
    ) -> None:
        if self.jitter:
            await asyncio.sleep(random.random() * self.jitter)
        if self.failures.get(message_id, 0) > 0:
            self.failures[message_id] -= 1
            raise BrokerUnavailable("broker unavailable")
        if message_id in self.poison:
            raise ValueError(f"{message_id} cannot be published")
        self.sent.append(((key or b"").decode(), message_id))


async def queue(database: Database, messages: list[tuple[str, str]]) -> None:
    async with database.pool.acquire() as connection, connection.transaction():
        for key, message_id in messages:
            await outbox.add(connection, topic="t", key=key, message_id=message_id,
                             payload=f'{{"id": "{message_id}"}}')


def per_key(sent: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for key, message_id in sent:
        grouped[key].append(message_id)
    return grouped


async def drain(*relays: OutboxRelay) -> None:
    async def until_empty(relay: OutboxRelay) -> None:
        idle = 0
        while idle < 3:
            try:
                idle = 0 if await relay.publish_pending() else idle + 1
            except Exception:  # noqa: BLE001 - a failed round is retried, as the relay does
                idle = 0
            await asyncio.sleep(0.01)

    await asyncio.gather(*(until_empty(relay) for relay in relays))


async def test_three_relays_publish_each_message_once_and_in_order_per_order(database):
    # given 300 messages over 6 orders, interleaved
    messages = [(f"O{i % 6}", f"m{i:04d}") for i in range(300)]
    await queue(database, messages)
    # when three relays drain the outbox at once through a slow broker
    broker = Recorder(jitter=0.002)
    relays = [OutboxRelay(database, broker, keys_per_round=2, messages_per_round=7)
              for _ in range(3)]
    await drain(*relays)
    # then every message went out exactly once, each order's messages in their order
    assert sorted(message_id for _, message_id in broker.sent) == [m for _, m in messages]
    assert per_key(broker.sent) == per_key(messages)
    async with database.pool.acquire() as connection:
        assert await outbox.pending(connection) == 0


async def test_a_broker_error_holds_the_order_back_until_it_goes_through(database):
    # given two orders' messages, and a broker that refuses the second message twice
    messages = [("A", "a1"), ("A", "a2"), ("A", "a3"), ("B", "b1"), ("B", "b2")]
    await queue(database, messages)
    broker = Recorder(failures={"a2": 2})
    relay = OutboxRelay(database, broker)
    # when the relay runs until the outbox is empty
    await drain(relay)
    # then nothing of A overtook a2, B was not held back, and nothing was doubled
    assert per_key(broker.sent) == {"A": ["a1", "a2", "a3"], "B": ["b1", "b2"]}
    assert len(broker.sent) == 5


async def test_a_commit_wakes_the_relay_without_waiting_for_the_poll(database):
    # given a running relay that would poll only every 30 s
    broker = Recorder()
    relay = OutboxRelay(database, broker, poll_seconds=30)
    await relay.start()
    try:
        await asyncio.sleep(0.2)
        # when a transaction queues a message
        started = time.monotonic()
        await queue(database, [("A", "woken")])
        # then it is published at once, woken by the notification
        while not broker.sent and time.monotonic() - started < 5:
            await asyncio.sleep(0.01)
        assert broker.sent == [("A", "woken")]
        assert time.monotonic() - started < 5
    finally:
        await relay.stop()


class Gate(Recorder):
    """A broker that holds one message until it is let through."""

    def __init__(self, held: str) -> None:
        super().__init__()
        self.held = held
        self.holding = asyncio.Event()
        self.through = asyncio.Event()

    async def publish(
        self, topic: str, key: bytes | None, payload: bytes, message_id: str,
        headers: dict[str, str],
    ) -> None:
        if message_id == self.held:
            self.holding.set()
            await self.through.wait()
        await super().publish(topic, key, payload, message_id, headers)


async def until_sent(broker: Recorder, count: int, seconds: float = 5) -> float:
    started = time.monotonic()
    while len(broker.sent) < count and time.monotonic() - started < seconds:
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_a_message_committed_during_a_round_goes_out_without_waiting_for_the_poll(
    database,
):
    # given a running relay that would poll only every 30 s, publishing A, which the
    # broker holds
    broker = Gate(held="a")
    relay = OutboxRelay(database, broker, poll_seconds=30)
    await relay.start()
    try:
        await asyncio.sleep(0.2)
        await queue(database, [("A", "a")])
        await asyncio.wait_for(broker.holding.wait(), 5)
        # when B is committed while that round runs, and then A goes through
        await queue(database, [("B", "b")])
        await asyncio.sleep(0.2)
        broker.through.set()
        # then B follows at once, woken by its commit
        assert await until_sent(broker, 2) < 5
        assert broker.sent == [("A", "a"), ("B", "b")]
    finally:
        await relay.stop()


async def test_a_round_that_took_everything_is_not_followed_by_an_empty_one(
    database, monkeypatch,
):
    # given a running relay, idle, and every claim it makes counted (the claims on this
    # test's database: the running service's relay claims on its own)
    claims = []
    claim = outbox.claim
    async with database.pool.acquire() as connection:
        ours = await connection.fetchval("SELECT current_database()")

    async def counted(connection, *args, **kwargs):
        rows = await claim(connection, *args, **kwargs)
        if await connection.fetchval("SELECT current_database()") == ours:
            claims.append(len(rows))
        return rows

    monkeypatch.setattr(outbox, "claim", counted)
    broker = Recorder()
    relay = OutboxRelay(database, broker, poll_seconds=30)
    await relay.start()
    try:
        deadline = time.monotonic() + 10
        while not claims and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        idle = len(claims)
        assert idle == 1, "the relay's first round, at start"
        # when one message is committed
        await queue(database, [("A", "one")])
        await until_sent(broker, 1)
        await asyncio.sleep(0.3)
        # then it took one claim: the round was not full, so none followed it
        assert broker.sent == [("A", "one")]
        assert claims[idle:] == [1]
    finally:
        await relay.stop()


async def test_a_message_that_fails_on_its_own_is_quarantined_and_holds_only_its_order(
    database,
):
    # given two orders, and a message of A that no broker will take
    await queue(database, [("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")])
    broker = Recorder()
    broker.poison.add("a1")
    relay = OutboxRelay(database, broker, quarantine_after=2, max_backoff=0.05,
                        alerts_topic="alerts")
    # when the relay runs rounds for a while
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        await relay.publish_pending()
        async with database.pool.acquire() as connection:
            if (await outbox.status(connection))["quarantined"]:
                break
        await asyncio.sleep(0.05)
    await drain(relay)
    # then B went out at once, A waits behind its quarantined message, and an alert went out
    assert per_key(broker.sent) == {"B": ["b1", "b2"], "outbox:1": ["quarantine:1:2"]}
    async with database.pool.acquire() as connection:
        [row] = await outbox.quarantined(connection)
        assert (row["message_id"], row["attempts"]) == ("a1", 2)
        assert "cannot be published" in row["last_error"]
        # when an operator retries it once the broker takes it
        broker.poison.clear()
        assert await outbox.release(connection, row["id"], "retry", actor="ops-1",
                                    reason="topic fixed")
    await drain(relay)
    # then A's messages go out in their order, and the retry is audited
    assert per_key(broker.sent)["A"] == ["a1", "a2"]
    async with database.pool.acquire() as connection:
        audit = await connection.fetch("SELECT action, actor, reason FROM outbox_operator_actions")
    assert [tuple(a) for a in audit] == [("retry", "ops-1", "topic fixed")]


async def test_a_skipped_message_is_never_published_and_its_order_goes_on(database):
    await queue(database, [("A", "a1"), ("A", "a2")])
    broker = Recorder()
    broker.poison.add("a1")
    relay = OutboxRelay(database, broker, quarantine_after=1, max_backoff=0.05)
    await relay.publish_pending()
    async with database.pool.acquire() as connection:
        [row] = await outbox.quarantined(connection)
        assert await outbox.release(connection, row["id"], "skip", actor="ops-1",
                                    reason="obsolete")
        assert not await outbox.release(connection, row["id"], "skip", actor="ops-1",
                                        reason="twice")
    await drain(relay)
    assert broker.sent == [("A", "a2")]


async def cli(database: Database, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "outbox", *args,
        env={**os.environ, "DATABASE_URL": database.dsn},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_an_operator_sees_and_skips_a_quarantined_message_from_the_command_line(database):
    # given a quarantined message
    await queue(database, [("A", "a1")])
    broker = Recorder()
    broker.poison.add("a1")
    await OutboxRelay(database, broker, quarantine_after=1).publish_pending()
    # when the operator looks, then skips it
    code, shown = await cli(database, "status")
    assert code == 0 and "quarantined: 1" in shown and "message=a1" in shown
    outbox_id = shown.split("#", 1)[1].split()[0]
    code, said = await cli(database, "skip", outbox_id, "--by", "ops-2", "--reason", "duplicate")
    assert code == 0, said
    # then it is no longer waiting, the skip is audited, and a second skip is refused
    code, shown = await cli(database, "status")
    assert "pending: 0, quarantined: 0" in shown
    code, _ = await cli(database, "skip", outbox_id, "--by", "ops-2", "--reason", "again")
    assert code == 1
    async with database.pool.acquire() as connection:
        assert await connection.fetchval(
            "SELECT actor FROM outbox_operator_actions WHERE action = 'skip'") == "ops-2"


async def old_and_new_messages(connection: asyncpg.Connection) -> None:
    """Messages of every kind, in a month-old outbox."""
    add = ("INSERT INTO outbox (topic, key, message_id, payload, created_at, published_at, "
           "raw_value) VALUES ($1, 'O1', $2, '{}', now() - $3::interval, "
           "now() - $4::interval, $5) RETURNING id")
    month, day = timedelta(days=30), timedelta(days=1)
    for n in range(3):
        await connection.fetchval(add, "refunds", f"sent-long-ago-{n}", month, month, None)
    await connection.fetchval(add, "refunds", "sent-yesterday", month, day, None)
    await connection.fetchval(add, "refunds", "never-sent", month, None, None)
    await connection.fetchval(add, "dlq", "dead-letter", month, month, None)
    await connection.fetchval(add, "refunds", "raw-bytes", month, month, b"\x00")
    acted_on = await connection.fetchval(add, "refunds", "skipped-by-ops", month, month, None)
    await connection.execute(
        "INSERT INTO outbox_operator_actions (outbox_id, action, actor, reason) "
        "VALUES ($1, 'skip', 'ops-1', 'broken')", acted_on)
    replayed = await connection.fetchval(add, "refunds", "replayed-letter", month, month, None)
    await connection.execute(
        "INSERT INTO dead_letter_replays (outbox_id, letter_id, original_topic, replay_id, "
        "actor) VALUES ($1, 'L1', 'refunds', 'R1', 'ops-1')", replayed)


async def test_published_messages_past_retention_are_deleted_and_what_operators_need_kept(
    database,
):
    # given a month of messages: published, waiting, dead letters, audited ones
    async with database.pool.acquire() as connection:
        await old_and_new_messages(connection)
    # when the retention of a week runs, two at a time
    retention = OutboxRetention(database, keep=timedelta(days=7), dead_letter_topic="dlq",
                                batch=2, pause=0)
    before = metrics.OUTBOX_PURGED._value.get()
    purged = await retention.purge()
    # then the messages published a month ago are gone, and only they
    assert purged == 3
    assert metrics.OUTBOX_PURGED._value.get() == before + 3
    kept = {row["message_id"] for row in await database.pool.fetch(
        "SELECT message_id FROM outbox")}
    assert kept == {"sent-yesterday", "never-sent", "dead-letter", "raw-bytes",
                    "skipped-by-ops", "replayed-letter"}
    # and a second run finds nothing more to delete
    assert await retention.purge() == 0


async def test_the_retention_runs_on_its_own_until_stopped(database):
    async with database.pool.acquire() as connection:
        await old_and_new_messages(connection)
    retention = OutboxRetention(database, keep=timedelta(days=7), dead_letter_topic="dlq",
                                every=0.05)
    await retention.start()
    try:
        await eventually(lambda: database.pool.fetchval(
            "SELECT count(*) = 0 FROM outbox WHERE message_id LIKE 'sent-long-ago-%'"))
    finally:
        await retention.stop()
    # a retention of 0 keeps everything: nothing runs
    keep_all = OutboxRetention(database, keep=timedelta(0), dead_letter_topic="dlq", every=0.05)
    await keep_all.start()
    await asyncio.sleep(0.2)
    await keep_all.stop()
    assert await database.pool.fetchval("SELECT count(*) FROM outbox") == 6
