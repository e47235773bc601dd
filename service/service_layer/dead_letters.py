"""Dead letters are facts like any other: written to the outbox in the transaction that met
them, under an id made from where the record came from, so a redelivery cannot double one."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from service import metrics
from service.adapters import outbox

log = structlog.get_logger(__name__)


#: The longest message id a dead letter's own id is made of; a longer (or unprintable) one
#: is replaced by the hash of the message's bytes.
LETTER_ID_MAX = 200


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """A message as it came in: a Kafka record, or one MCOM delivery over HTTP (no partition,
    no offset; `topic` is its method's topic, `digest` the SHA-256 of its bytes as they came)."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    transport: str = "kafka"
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: InboundRecord
    code: str
    message: str
    message_id: str | None = None

    @property
    def letter_id(self) -> str:
        """Where the record came from: a redelivery makes the same id. A Kafka record by its
        topic, partition and offset; an HTTP delivery by its message id (MCOM retries a
        delivery under its id), or the hash of its bytes when it names no usable id."""
        record = self.record
        if record.transport == "kafka":
            return f"dead-letter:{record.topic}:{record.partition}:{record.offset}"
        message_id = self.message_id
        if message_id and len(message_id) <= LETTER_ID_MAX and message_id.isprintable():
            return f"dead-letter:{record.transport}:{message_id}"
        digest = record.digest or hashlib.sha256(record.value or b"").hexdigest()
        return f"dead-letter:{record.transport}:sha256:{digest}"

    def headers(self) -> dict[str, str]:
        """The original headers plus why and where the record came from."""
        record = self.record
        headers = {name: value.decode("utf-8", "replace") for name, value in record.headers}
        headers.update({
            "x-error-code": self.code,
            "x-error-message": self.message[:4000],
            "x-original-topic": record.topic,
        })
        if record.transport == "kafka":
            headers["x-original-partition"] = str(record.partition)
            headers["x-original-offset"] = str(record.offset)
        else:
            headers["x-original-transport"] = record.transport
        # stored as jsonb until published, which cannot hold NUL
        return {name.replace("\x00", "\ufffd"): value.replace("\x00", "\ufffd")
                for name, value in headers.items()}


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
