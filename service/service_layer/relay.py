"""The outbox relay: publishes what committed transactions decided, in order per order id.

Woken by LISTEN/NOTIFY when a transaction queues a message, and by a poll as a fallback.
A message is marked published only after the broker acknowledged it; a crash in between
publishes it again with the same id, which consumers dedupe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Protocol

import asyncpg
import structlog

from schemas.published import QuarantineAlert, QuarantineParams
from service import background, metrics
from service.adapters import outbox
from service.adapters.db import TRANSIENT_ERRORS
from service.adapters.outbox import BrokerUnavailable
from service.adapters.sealing import SealingKeyError
from service.adapters.trace_context import TRACE_HEADERS
from service.retry import Backoff
from service.service_layer.ports import PoolSource

log = structlog.get_logger(__name__)


class Publisher(Protocol):
    """Raises BrokerUnavailable when the broker cannot take messages; any other error is
    the message's own."""

    async def publish(
        self, topic: str, key: bytes | None, payload: bytes, message_id: str,
        headers: dict[str, str],
    ) -> None: ...


class Opener(Protocol):
    def open(self, token: str) -> str: ...


class ListenableDatabase(PoolSource, Protocol):
    dsn: str


class OutboxRelay:
    def __init__(
        self,
        database: ListenableDatabase,
        publisher: Publisher,
        *,
        opener: Opener | None = None,
        poll_seconds: float = 1.0,
        keys_per_round: int = 100,
        messages_per_round: int = 500,
        max_backoff: float = 30.0,
        quarantine_after: int = 8,
        alerts_topic: str | None = None,
    ) -> None:
        self._database = database
        self._publisher = publisher
        self._opener = opener
        self._poll_seconds = poll_seconds
        self._keys = keys_per_round
        self._limit = messages_per_round
        self._max_backoff = max_backoff
        self._quarantine_after = quarantine_after
        self._alerts_topic = alerts_topic
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        await background.cancel(self._task)
        self._task = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """One round: claim, publish, mark in one statement. Returns how many went out.

        Keys are published side by side, each key's messages one after the other, each
        acknowledged before the next: one order's messages never overtake each other. A
        message that fails on its own backs off on its key and, after `quarantine_after`
        attempts, is quarantined with an alert; its key waits, the other keys go on. A
        broker that cannot take messages stops the round for every key.
        """
        published, _ = await self._round()
        return published

    async def _round(self) -> tuple[int, bool]:
        """How many went out, and whether the claim took as much as a round may: then more
        may be waiting; else whatever commits later wakes the relay."""
        async with self._database.pool.acquire() as connection, connection.transaction():
            rows = await outbox.claim(connection, keys=self._keys, limit=self._limit)
            by_key: dict[str, list[asyncpg.Record]] = {}
            for row in rows:
                by_key.setdefault(row["key"], []).append(row)
            outcomes = await asyncio.gather(*(self._publish_key(key_rows)
                                              for key_rows in by_key.values()))
            published = [row_id for sent, _, _ in outcomes for row_id in sent]
            if published:
                await outbox.mark_published(connection, published)
            for _, failed, error in outcomes:
                if failed is not None and error is not None and not isinstance(
                    error, BrokerUnavailable
                ):
                    await self._failed(connection, failed, error)
        metrics.OUTBOX_PUBLISHED.inc(len(published))
        unavailable = [error for _, _, error in outcomes if isinstance(error, BrokerUnavailable)]
        if unavailable:
            raise unavailable[0]
        return len(published), len(rows) >= self._limit or len(by_key) >= self._keys

    async def _publish_key(
        self, rows: list[asyncpg.Record]
    ) -> tuple[list[int], asyncpg.Record | None, Exception | None]:
        """(ids published, the row that failed, its error): stops at the first failure."""
        sent: list[int] = []
        for row in rows:
            try:
                await self._publish(row)
            except Exception as error:  # noqa: BLE001 - counted against this message or all
                return sent, row, error
            sent.append(row["id"])
        return sent, None, None

    async def _publish(self, row: asyncpg.Record) -> None:
        if row["raw_value"] is not None:
            await self._publisher.publish(
                row["topic"], row["raw_key"], row["raw_value"], row["message_id"],
                json.loads(row["headers"] or "{}"),
            )
            return
        payload = row["payload"]
        if row["sealed"]:
            if self._opener is None:
                raise SealingKeyError("a sealed message needs BANK_DETAILS_KEY to publish")
            payload = self._opener.open(payload)
        trace = {name: row[name] for name in TRACE_HEADERS if row[name]}
        await self._publisher.publish(
            row["topic"], row["key"].encode(), payload.encode(), row["message_id"], trace
        )

    async def _failed(
        self, connection: asyncpg.Connection, row: asyncpg.Record, error: Exception
    ) -> None:
        metrics.OUTBOX_ERRORS.inc()
        quarantined, attempts = await outbox.mark_failed(
            connection, row["id"], repr(error), quarantine_after=self._quarantine_after,
            max_backoff=self._max_backoff,
        )
        context = {"topic": row["topic"], "order_id": row["key"], "outbox_id": row["id"],
                   "message_id": row["message_id"], "attempts": attempts, "error": repr(error)}
        if not quarantined:
            log.warning("outbox message failed, backing off on its key", **context)
            return
        metrics.OUTBOX_QUARANTINED.inc()
        log.error("outbox message quarantined: its key waits for an operator", **context)
        if self._alerts_topic is not None:
            alert = QuarantineAlert(id=f"quarantine:{row['id']}:{attempts}", params=QuarantineParams(
                outbox_id=row["id"], topic=row["topic"], key=row["key"],
                message_id=row["message_id"], attempts=attempts, error=repr(error)[:1000],
            ))
            await outbox.add(
                connection, topic=self._alerts_topic, key=f"outbox:{row['id']}",
                message_id=alert.id, payload=alert.model_dump_json(),
            )

    async def _run(self) -> None:
        backoff = Backoff(cap=self._max_backoff)
        while True:
            try:
                while True:
                    self._wake.clear()
                    _, full = await self._round()
                    if not full:
                        break
                backoff.reset()
            except Exception as error:  # noqa: BLE001 - the relay must outlive any one round
                expected = isinstance(error, (BrokerUnavailable, *TRANSIENT_ERRORS))
                report = log.warning if expected else log.error
                delay = backoff.delay()
                report("outbox relay paused", error=repr(error), retry_in=delay)
                await asyncio.sleep(delay)
                continue
            if self._listener is None or self._listener.is_closed():
                await self._listen()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(self._database.dsn)
            await self._listener.add_listener(outbox.NOTIFY_CHANNEL, self._notified)
        except (*TRANSIENT_ERRORS, asyncpg.PostgresError) as error:
            self._listener = None
            log.warning("outbox listener unavailable, polling", error=repr(error))

    def _notified(self, *_: object) -> None:
        self._wake.set()


