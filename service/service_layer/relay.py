"""The outbox relay: publishes what committed transactions decided, in order per order id.

Woken by LISTEN/NOTIFY when a transaction queues a message, and by a poll as a fallback.
A message is marked published only after the broker acknowledged it; a crash in between
publishes it again with the same id, which consumers dedupe.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import asyncpg
import structlog

from service import metrics
from service.adapters import outbox
from service.adapters.db import TRANSIENT_ERRORS
from service.service_layer.ingest import PoolSource

log = structlog.get_logger(__name__)


class Publisher(Protocol):
    async def publish(self, topic: str, key: str, payload: bytes, message_id: str) -> None: ...


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
    ) -> None:
        self._database = database
        self._publisher = publisher
        self._opener = opener
        self._poll_seconds = poll_seconds
        self._keys = keys_per_round
        self._limit = messages_per_round
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """One round: claim, publish in id order, mark. Returns how many were published."""
        published: list[int] = []
        failed_keys: set[str] = set()
        async with self._database.pool.acquire() as connection, connection.transaction():
            rows = await outbox.claim(connection, keys=self._keys, limit=self._limit)
            for row in rows:
                if row["key"] in failed_keys:
                    continue
                try:
                    payload = row["payload"]
                    if row["sealed"]:
                        assert self._opener is not None, "a sealed message needs an opener"
                        payload = self._opener.open(payload)
                    await self._publisher.publish(
                        row["topic"], row["key"], payload.encode(), row["message_id"]
                    )
                except Exception as error:  # noqa: BLE001 - kept for the next round
                    failed_keys.add(row["key"])
                    metrics.OUTBOX_ERRORS.inc()
                    log.warning(
                        "outbox publish failed, will retry",
                        topic=row["topic"], order_id=row["key"],
                        message_id=row["message_id"], error=repr(error),
                    )
                    continue
                published.append(row["id"])
            if published:
                await outbox.mark_published(connection, published)
        metrics.OUTBOX_PUBLISHED.inc(len(published))
        if failed_keys:
            raise PublishFailed(len(failed_keys))
        return len(published)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                while await self.publish_pending():
                    pass
                backoff = 0.1
            except Exception as error:  # noqa: BLE001 - the relay must outlive any one round
                expected = isinstance(error, (PublishFailed, *TRANSIENT_ERRORS))
                report = log.warning if expected else log.error
                report("outbox relay paused", error=repr(error), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if self._listener is None or self._listener.is_closed():
                await self._listen()
            self._wake.clear()
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


class PublishFailed(Exception):
    def __init__(self, keys: int) -> None:
        super().__init__(f"publishing failed for {keys} order(s)")
