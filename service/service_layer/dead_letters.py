"""Dead letters are facts like any other: written to the outbox in the transaction that met
them, under an id made from where the record came from, so a redelivery cannot double one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from service import metrics
from service.adapters import outbox

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class InboundRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: InboundRecord
    code: str
    message: str
    message_id: str | None = None

    @property
    def letter_id(self) -> str:
        record = self.record
        return f"dead-letter:{record.topic}:{record.partition}:{record.offset}"

    def headers(self) -> dict[str, str]:
        """The original headers plus why and where the record came from."""
        record = self.record
        headers = {name: value.decode("utf-8", "replace") for name, value in record.headers}
        headers.update({
            "x-error-code": self.code,
            "x-error-message": self.message[:4000],
            "x-original-topic": record.topic,
            "x-original-partition": str(record.partition),
            "x-original-offset": str(record.offset),
        })
        return headers


async def record(
    connection: asyncpg.Connection, topic: str, letters: Sequence[DeadLetter]
) -> list[DeadLetter]:
    """Queue the letters in the caller's transaction; returns those not queued before."""
    new = []
    for letter in letters:
        if await outbox.add_raw(
            connection, topic=topic, message_id=letter.letter_id, key=letter.record.key,
            value=letter.record.value or b"", headers=letter.headers(),
        ):
            new.append(letter)
    return new


def report(letters: Sequence[DeadLetter], what: str = "message") -> None:
    """Once each, after the commit that recorded them."""
    for letter in letters:
        metrics.DEAD_LETTERS.labels(letter.code).inc()
        metrics.MESSAGES.labels("unknown", "dead_lettered").inc()
        log.warning(
            f"{what} dead-lettered", code=letter.code, reason=letter.message,
            message_id=letter.message_id, topic=letter.record.topic,
            partition=letter.record.partition, offset=letter.record.offset,
        )
