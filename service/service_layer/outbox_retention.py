"""Published outbox messages are kept for a while (to look into what was sent), then deleted:
the table holds what waits and what is recent, not every message ever sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog

from service import background, metrics
from service.adapters import outbox
from service.adapters.db import TRANSIENT_ERRORS
from service.service_layer.ports import PoolSource

log = structlog.get_logger(__name__)


class OutboxRetention:
    """Every `every` seconds, deletes the messages published more than `keep` ago, `batch`
    at a time, each batch its own short transaction, `pause` seconds apart so that a large
    backlog (the first run after an upgrade) never holds the database for long. Instances
    purge side by side: a row another one is deleting is skipped. Dead letters and messages
    an operator acted on are kept (see `outbox.PURGE_PUBLISHED`)."""

    def __init__(
        self, database: PoolSource, *, keep: timedelta, dead_letter_topic: str,
        every: float = 600.0, batch: int = 5_000, pause: float = 0.05,
    ) -> None:
        self._database = database
        self._keep = keep
        self._dead_letter_topic = dead_letter_topic
        self._every = every
        self._batch = batch
        self._pause = pause
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._keep > timedelta(0):
            self._task = asyncio.create_task(self._run(), name="outbox-retention")

    async def stop(self) -> None:
        await background.cancel(self._task)

    async def purge(self, now: datetime | None = None) -> int:
        """Delete what is past retention now; returns how many messages were deleted."""
        before = (now or datetime.now(UTC)) - self._keep
        purged = 0
        while True:
            async with self._database.pool.acquire() as connection:
                deleted = await outbox.purge_published(
                    connection, before, dead_letter_topic=self._dead_letter_topic,
                    limit=self._batch,
                )
            purged += deleted
            metrics.OUTBOX_PURGED.inc(deleted)
            if deleted < self._batch:
                return purged
            await asyncio.sleep(self._pause)

    async def _run(self) -> None:
        while True:
            try:
                purged = await self.purge()
                if purged:
                    log.info("published outbox messages past retention deleted", count=purged,
                             retention_hours=self._keep / timedelta(hours=1))
            except TRANSIENT_ERRORS as error:
                log.warning("outbox retention skipped: database unavailable", error=repr(error),
                            retry_in=self._every)
            except Exception:  # noqa: BLE001 - housekeeping: reported, tried again next time
                log.exception("outbox retention failed", retry_in=self._every)
            await asyncio.sleep(self._every)
