"""The outbox relay on the real database: in order per key, once, through broker errors."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from service.adapters import outbox
from service.adapters.db import Database, migrate
from service.service_layer.relay import OutboxRelay

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

    async def publish(self, topic: str, key: str, payload: bytes, message_id: str) -> None:
        if self.jitter:
            await asyncio.sleep(random.random() * self.jitter)
        if self.failures.get(message_id, 0) > 0:
            self.failures[message_id] -= 1
            raise ConnectionError("broker unavailable")
        self.sent.append((key, message_id))


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
