"""The broker as a client sees it: a producer that retries, and plain readers of whole topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition


class Bus:
    """Sends with acks from all; on an error or a timeout sends the same bytes again."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                         request_timeout_ms=15000)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer.stop(), 20)

    async def send(self, topic: str, value: bytes, key: str, deadline: float) -> RecordMetadata | None:
        while time.monotonic() < deadline:
            try:
                return await asyncio.wait_for(
                    self.producer.send_and_wait(topic, value, key=key.encode()), 20)
            except (TimeoutError, KafkaError):
                await asyncio.sleep(0.5)
        return None

    async def send_many(
        self, items: list[tuple[str, bytes, str]], deadline: float
    ) -> list[RecordMetadata | None]:
        """Many at once (one order's records keep their order); a failed one is sent again."""
        futures = [await self.producer.send(topic, value, key=key.encode())
                   for topic, value, key in items]
        done = await asyncio.gather(*futures, return_exceptions=True)
        return [result if isinstance(result, RecordMetadata)
                else await self.send(topic, value, key, deadline)
                for result, (topic, value, key) in zip(done, items, strict=True)]


async def read_all(bootstrap: str, topics: list[str], timeout: float = 60.0) -> list[ConsumerRecord]:
    """Every record of `topics`, from the beginning up to the end offsets read at the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics
                      for p in sorted(consumer.partitions_for_topic(t) or {0})]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                break
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
        else:
            raise RuntimeError(f"could not read {topics} to their end within {timeout:.0f} s")
        return records
    finally:
        await consumer.stop()


def parsed(record: ConsumerRecord) -> dict[str, Any] | None:
    try:
        value = json.loads(record.value)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class Tail:
    """Follows the answer topics while the run goes on: replies by id, and how much arrived."""

    def __init__(self, bootstrap: str, results: str, events: str, dead_letters: str) -> None:
        self.bootstrap = bootstrap
        self.topics = {"results": results, "events": events, "dead": dead_letters}
        self.replies: dict[str, tuple[float, dict[str, Any]]] = {}
        self.events: set[tuple[str, str]] = set()
        self.dead_keys: Counter[str] = Counter()
        self.changed_at = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chaos-tail")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        # a short long-poll: a fault that waits for a record here fires within ~20 ms of it
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=20)
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [TopicPartition(t, p) for t in self.topics.values()
                          for p in sorted(consumer.partitions_for_topic(t) or {0})]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while True:
                for batch in (await consumer.getmany(timeout_ms=200, max_records=2000)).values():
                    for record in batch:
                        self._take(record)
        finally:
            await consumer.stop()

    def _take(self, record: ConsumerRecord) -> None:
        self.changed_at = time.monotonic()
        if record.topic == self.topics["dead"]:
            self.dead_keys[(record.key or b"").decode("utf-8", "replace")] += 1
            return
        message = parsed(record) or {}
        if record.topic == self.topics["results"] and "id" in message:
            self.replies.setdefault(str(message["id"]), (time.monotonic(), message))
        refund = (message.get("params") or {}).get("refund") or {}
        if record.topic == self.topics["events"] and refund.get("refund_type") == "Appeasement":
            self.events.add((str(refund.get("credit_note_number")),
                             str((refund.get("status") or {}).get("code"))))
