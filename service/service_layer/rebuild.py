"""Rebuilding the OMS projection from the consumed topics, beside the live one, then a swap.

1. Fresh tables like the live ones (`LIKE ... INCLUDING ALL`, plus their foreign keys among
   themselves) in the schema `projection_rebuild`, with an inbox of their own.
2. Every consumed topic is read from the beginning up to the end offsets recorded at the
   start, and folded into those tables by the projector the service runs (a connection whose
   `search_path` puts `projection_rebuild` first), partitions merged by record time. The
   service keeps serving and consuming on the live tables meanwhile.
3. Catch-up while serving: records that arrived since are read up to the new end offsets.
4. The swap, in one transaction: the live inbox and projection tables are locked (writers
   wait; `lock_timeout` bounds the wait and a refused or deadlocked swap is tried again), the
   records that arrived during step 3 are folded in, the rebuilt inbox rows are added to the
   live inbox (so the live consumer skips, after the swap, what the rebuild already applied),
   the foreign keys of other tables (appeasements, claims) are moved to the new tables (an
   appeasement whose order the topics no longer hold stops the swap), the live tables move to
   the schema `projection_previous` (the one of an earlier rebuild is dropped) and the rebuilt
   ones take their place. Readers and writers blocked by the locks go on with the new tables.

Appeasements, their allocations and audit trail are the service's own facts, not rebuilt: the
new tables only replace what the OMS told us. A record the live projection dead-lettered is
dead-lettered under the same id, so nothing is queued twice; no over-credit alert is raised
again.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from schemas.consumed import CONSUMED
from service.adapters.kafka import KafkaSecurity, inbound
from service.domain.projection import ProjectionRules
from service.service_layer.ingest import Projector

log = structlog.get_logger(__name__)

SHADOW = "projection_rebuild"
PREVIOUS = "projection_previous"
#: The projection of what the OMS told us, swapped as a whole.
TABLES = ("orders", "order_lines", "oms_refunds", "oms_refund_lines", "returns", "shipments")
INBOX = "inbox"
#: One rebuild at a time (a session-level advisory lock).
REBUILD_LOCK = 7_351_002
SWAP_ATTEMPTS = 5

FOREIGN_KEYS = """
SELECT c.conname AS name, src.relname AS source, dst.relname AS target,
       pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c
JOIN pg_class src ON src.oid = c.conrelid
JOIN pg_class dst ON dst.oid = c.confrelid
WHERE c.contype = 'f' AND dst.relnamespace = $1::regnamespace AND dst.relname = ANY($2)
  AND src.relnamespace = $1::regnamespace
ORDER BY src.relname, c.conname
"""
DIFFERENT_ORDERS = """
SELECT count(DISTINCT order_id) FROM (
    (SELECT order_id FROM (TABLE {live}.{table} EXCEPT TABLE {shadow}.{table}) a)
    UNION ALL
    (SELECT order_id FROM (TABLE {shadow}.{table} EXCEPT TABLE {live}.{table}) b)
) d
"""


@dataclass
class Report:
    records: int = 0
    passes: int = 0
    live_orders: int = 0
    rebuilt_orders: int = 0
    only_live: int = 0
    only_rebuilt: int = 0
    different: int = 0
    first_offsets: dict[str, int] = field(default_factory=dict)
    swapped: bool = False


class RebuildRefused(Exception):
    """The rebuilt projection cannot replace the live one (the swap rolled back)."""


@dataclass(frozen=True)
class _Pool:
    pool: asyncpg.Pool


def _name(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class Rebuild:
    """One rebuild: `prepare`, `replay`, `catch_up`, `compare`, `swap`, `close`."""

    def __init__(
        self, dsn: str, bootstrap_servers: str, rules: ProjectionRules, *,
        dead_letter_topic: str, security: KafkaSecurity | None = None,
        topics: Sequence[str] = tuple(CONSUMED), batch: int = 500, lock_timeout: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._bootstrap = bootstrap_servers
        self._rules = rules
        self._dead_letter_topic = dead_letter_topic
        self._security = security or KafkaSecurity()
        self._topics = list(topics)
        self._batch = batch
        self._lock_timeout = lock_timeout
        self._control: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self.live = "public"
        self.report = Report()

    @property
    def control(self) -> asyncpg.Connection:
        assert self._control is not None, "prepare() first"
        return self._control

    async def prepare(self) -> None:
        """Empty rebuild tables like the live ones, and a consumer on every partition."""
        self._control = await asyncpg.connect(self._dsn)
        if not await self.control.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK):
            raise RebuildRefused("another rebuild is running")
        self.live = await self.control.fetchval("SELECT current_schema()")
        live, shadow = _name(self.live), _name(SHADOW)
        async with self.control.transaction():
            await self.control.execute(f"DROP SCHEMA IF EXISTS {shadow} CASCADE")
            await self.control.execute(f"CREATE SCHEMA {shadow}")
            for table in (*TABLES, INBOX):
                await self.control.execute(
                    f"CREATE TABLE {shadow}.{_name(table)} (LIKE {live}.{_name(table)} "
                    "INCLUDING ALL)"
                )
            for key in await self.control.fetch(FOREIGN_KEYS, self.live, list(TABLES)):
                if key["source"] in TABLES:
                    # the definition names its target unqualified: the rebuild table, here
                    await self.control.execute(f"SET LOCAL search_path TO {shadow}")
                    await self.control.execute(
                        f"ALTER TABLE {shadow}.{_name(key['source'])} ADD CONSTRAINT "
                        f"{_name(key['name'])} {key['definition']}"
                    )
            await self.control.execute("RESET search_path")
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=2,
            server_settings={"search_path": f"{shadow}, {live}"},
        )
        self._projector = Projector(
            _Pool(self._pool), self._rules, dead_letter_topic=self._dead_letter_topic,
            alerts_topic=None,
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None,
            auto_offset_reset="earliest", **self._security.client_options(),
        )
        await self._consumer.start()
        await self._consumer.topics()
        self._partitions = [
            TopicPartition(topic, partition) for topic in self._topics
            for partition in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        if self._partitions:
            self._consumer.assign(self._partitions)
            await self._consumer.seek_to_beginning(*self._partitions)
            for tp, offset in (await self._consumer.beginning_offsets(self._partitions)).items():
                if offset:
                    self.report.first_offsets[f"{tp.topic}/{tp.partition}"] = offset

    async def pending(self) -> int:
        """Records between where the rebuild is and the end of every partition now."""
        if not self._partitions:
            return 0
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(self._partitions)
        positions = [await self._consumer.position(tp) for tp in self._partitions]
        return sum(max(ends[tp] - at, 0) for tp, at in zip(self._partitions, positions, strict=True))

    async def replay(self, advance: Callable[[int], None] = lambda n: None) -> int:
        """Fold every record up to the partitions' ends as of now; returns how many."""
        if not self._partitions:
            return 0
        assert self._consumer is not None
        consumer = self._consumer
        ends = await consumer.end_offsets(self._partitions)
        done = 0
        self.report.passes += 1
        while True:
            behind = [tp for tp in self._partitions if await consumer.position(tp) < ends[tp]]
            if not behind:
                break
            batches = await consumer.getmany(*behind, timeout_ms=500, max_records=self._batch)
            records = list(heapq.merge(*batches.values(), key=lambda record: record.timestamp))
            if records:
                await self._projector.handle([inbound(record) for record in records])
                done += len(records)
                advance(len(records))
        self.report.records += done
        return done

    async def compare(self) -> Report:
        """How the rebuilt projection differs from the live one, order by order."""
        live, shadow = _name(self.live), _name(SHADOW)
        fetch = self.control.fetchval
        report = self.report
        report.live_orders = await fetch(f"SELECT count(*) FROM {live}.orders")
        report.rebuilt_orders = await fetch(f"SELECT count(*) FROM {shadow}.orders")
        report.only_live = await fetch(
            f"SELECT count(*) FROM {live}.orders l WHERE NOT EXISTS "
            f"(SELECT 1 FROM {shadow}.orders s WHERE s.order_id = l.order_id)")
        report.only_rebuilt = await fetch(
            f"SELECT count(*) FROM {shadow}.orders s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {live}.orders l WHERE l.order_id = s.order_id)")
        different = 0
        for table in TABLES[1:]:
            different += await fetch(
                DIFFERENT_ORDERS.format(live=live, shadow=shadow, table=_name(table))
            )
        report.different = different
        return report

    async def swap(
        self, before_swap: Callable[[], Any] | None = None,
        advance: Callable[[int], None] = lambda n: None,
    ) -> None:
        """Catch up under the lock and put the rebuilt tables in place, in one transaction."""
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            try:
                if before_swap is not None:
                    await before_swap()
                await self._swap_once(advance)
                self.report.swapped = True
                return
            except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as error:
                log.warning("projection swap waited too long for its locks, trying again",
                            attempt=attempt, error=repr(error))
                await asyncio.sleep(0.5 * attempt)
        raise RebuildRefused(f"the live tables stayed busy through {SWAP_ATTEMPTS} attempts")

    async def _swap_once(self, advance: Callable[[int], None]) -> None:
        live, shadow, previous = _name(self.live), _name(SHADOW), _name(PREVIOUS)
        connection = self.control
        async with connection.transaction():
            await connection.execute(f"SET LOCAL lock_timeout = '{int(self._lock_timeout * 1000)}ms'")
            # the order the live consumer takes them in: inbox first, then the projection
            await connection.execute(f"LOCK TABLE {live}.{INBOX} IN EXCLUSIVE MODE")
            await connection.execute(
                "LOCK TABLE " + ", ".join(f"{live}.{_name(t)}" for t in TABLES)
                + " IN ACCESS EXCLUSIVE MODE"
            )
            await self.replay(advance)
            await connection.execute(
                f"INSERT INTO {live}.{INBOX} SELECT * FROM {shadow}.{INBOX} ON CONFLICT DO NOTHING"
            )
            outside = [key for key in await connection.fetch(FOREIGN_KEYS, self.live, list(TABLES))
                       if key["source"] not in TABLES]
            for key in outside:
                await connection.execute(
                    f"ALTER TABLE {live}.{_name(key['source'])} DROP CONSTRAINT {_name(key['name'])}"
                )
            await connection.execute(f"DROP SCHEMA IF EXISTS {previous} CASCADE")
            await connection.execute(f"CREATE SCHEMA {previous}")
            for table in TABLES:
                await connection.execute(f"ALTER TABLE {live}.{_name(table)} SET SCHEMA {previous}")
            for table in TABLES:
                await connection.execute(f"ALTER TABLE {shadow}.{_name(table)} SET SCHEMA {live}")
            await connection.execute(f"SET LOCAL search_path TO {live}")
            for key in outside:
                try:
                    await connection.execute(
                        f"ALTER TABLE {live}.{_name(key['source'])} ADD CONSTRAINT "
                        f"{_name(key['name'])} {key['definition']}"
                    )
                except asyncpg.ForeignKeyViolationError as error:
                    raise RebuildRefused(
                        f"{key['source']} refers to what the topics no longer hold "
                        f"({error.detail or error}); the live projection is kept"
                    ) from None
            await connection.execute(f"DROP SCHEMA {shadow} CASCADE")

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._pool is not None:
            await self._pool.close()
        if self._control is not None:
            await self._control.close()
