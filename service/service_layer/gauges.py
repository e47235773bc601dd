"""The gauges Prometheus reads at scrape time: consumer lag, and the outbox's backlog."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from service import metrics
from service.adapters import outbox
from service.service_layer.ports import PoolSource

log = structlog.get_logger(__name__)

#: A scrape never waits longer on the database than this; the gauges keep their last values.
QUERY_SECONDS = 2.0


class Consumer(Protocol):
    @property
    def group_id(self) -> str: ...

    async def state(self) -> dict[str, Any]: ...


async def refresh(database: PoolSource, consumers: Mapping[str, Consumer]) -> None:
    await asyncio.gather(refresh_lag(consumers), refresh_outbox(database))


async def refresh_lag(consumers: Mapping[str, Consumer]) -> None:
    """Each assigned partition's lag, as the readiness probe computes it; partitions a group
    no longer holds disappear."""
    lags: list[tuple[str, str, str, int]] = []
    for consumer in consumers.values():
        state = await consumer.state()
        for name, lag in state["partitions"].items():
            topic, partition = name.rsplit("/", 1)
            lags.append((consumer.group_id, topic, partition, lag))
    metrics.CONSUMER_LAG.clear()
    for group, topic, partition, lag in lags:
        metrics.CONSUMER_LAG.labels(group, topic, partition).set(lag)


async def refresh_outbox(database: PoolSource) -> None:
    """One query over the unpublished rows (an index holds them)."""
    try:
        async with database.pool.acquire(timeout=QUERY_SECONDS) as connection:
            row = await asyncio.wait_for(outbox.status(connection), QUERY_SECONDS)
    except Exception as error:  # noqa: BLE001 - a scrape reports what it can, it never fails
        log.debug("outbox gauges not refreshed", error=repr(error))
        return
    metrics.OUTBOX_PENDING_ROWS.set(row["pending"])
    metrics.OUTBOX_QUARANTINED_ROWS.set(row["quarantined"])
    metrics.OUTBOX_OLDEST_SECONDS.set(float(row["oldest_seconds"] or 0))
