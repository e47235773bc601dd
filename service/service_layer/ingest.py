"""Apply consumed OMS messages to the projection: one transaction per batch, inbox included."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from schemas.envelope import PRODUCER_HEADER, WireError, read_envelope
from schemas.published import OverCreditAlert, OverCreditParams
from service import metrics
from service.adapters import appeasement_repo, outbox
from service.adapters import projection_repo as repo
from service.adapters.db import TRANSIENT_ERRORS
from service.domain.events import OmsEvent, OmsRefundUpdated
from service.domain.money import Currency
from service.domain.over_credit import newly_over_credited, over_credit
from service.domain.projection import OrderState, ProjectionRules
from service.retry import Backoff
from service.service_layer import dead_letters, ids
from service.service_layer.answers import Answer
from service.service_layer.dead_letters import DeadLetter, InboundRecord
from service.service_layer.ports import PoolSource
from service.service_layer.translate import read_fast, to_event

log = structlog.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)

#: Records read between two turns of the event loop.
READ_TURN = 25


@dataclass(frozen=True, slots=True)
class _Readable:
    record: InboundRecord
    message_id: str
    method: str
    event: OmsEvent


class Projector:
    """Folds OMS events into the projection; bad input is dead-lettered, never retried forever."""

    def __init__(
        self,
        database: PoolSource,
        rules: ProjectionRules,
        *,
        dead_letter_topic: str,
        consumer: str = "projection",
        max_backoff: float = 30.0,
        alerts_topic: str | None = None,
        chunk_records: int = 250,
        lanes: int = 2,
    ) -> None:
        self._database = database
        self._chunk_records = chunk_records
        self._lanes = lanes
        self._rules = rules
        self._dead_letter_topic = dead_letter_topic
        self._consumer = consumer
        self._max_backoff = max_backoff
        self._alerts_topic = alerts_topic
        self._own = (PRODUCER_HEADER, rules.service_name.encode())

    async def handle(
        self, records: Sequence[InboundRecord], *, retry_outages: bool = True
    ) -> list[Answer]:
        """Apply the records; one answer per record, in their order.

        The records are read (JSON, wire models) in chunks of `chunk_records`. A chunk's
        orders are split over `lanes`, each order's events always in the same lane; a lane
        applies its part of each chunk in one transaction, chunk after chunk, and the lanes
        run side by side. So the next chunk is read while the ones before are in the
        database, and a lane waits for nothing but its own previous transaction. Through a
        database outage it retries until done (a consumer holds its offsets); with
        `retry_outages` off the outage is raised, for a caller that can tell its sender to
        try again.
        """
        metrics.BATCH_RECORDS.observe(len(records))
        answers: dict[int, Answer] = {}
        lanes: list[asyncio.Task[None] | None] = [None] * max(self._lanes, 1)
        try:
            for start in range(0, len(records), self._chunk_records):
                readable, letters = await self._read(
                    records[start:start + self._chunk_records], answers
                )
                for lane, (items, lane_letters) in enumerate(self._split(readable, letters)):
                    if items or lane_letters:
                        lanes[lane] = asyncio.create_task(self._after(
                            lanes[lane], items, lane_letters, retry_outages, answers
                        ))
            for task in lanes:
                if task is not None:
                    await task
        finally:
            for task in lanes:
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
        return [answers[id(record)] for record in records]

    def _split(
        self, items: list[_Readable], letters: list[DeadLetter]
    ) -> list[tuple[list[_Readable], list[DeadLetter]]]:
        """Each order's events in the lane of its order id, in every chunk, so that they are
        applied in their order; the dead letters in the first lane."""
        if self._lanes < 2:
            return [(items, letters)]
        lanes: list[list[_Readable]] = [[] for _ in range(self._lanes)]
        for item in items:
            lanes[hash(item.event.order_id) % self._lanes].append(item)
        return [(lane, letters if n == 0 else []) for n, lane in enumerate(lanes)]

    async def _after(
        self,
        previous: asyncio.Task[None] | None,
        items: list[_Readable],
        letters: list[DeadLetter],
        retry_outages: bool,
        answers: dict[int, Answer],
    ) -> None:
        """Apply a lane's part of a chunk once the lane's part of the chunk before is done."""
        if previous is not None:
            await previous
        answers.update(await self._apply_until_done(items, letters, retry_outages))

    async def _read(
        self, records: Sequence[InboundRecord], answers: dict[int, Answer]
    ) -> tuple[list[_Readable], list[DeadLetter]]:
        """Envelopes and domain events of the records; what cannot be read as dead letters.
        Gives the event loop a turn every few records, so the chunk in the database moves on."""
        readable: list[_Readable] = []
        letters: list[DeadLetter] = []
        for count, record in enumerate(records, start=1):
            if count % READ_TURN == 0:
                await asyncio.sleep(0)
            if self._own in record.headers:
                metrics.OWN_EVENTS.inc()
                log.debug("own event skipped", topic=record.topic, partition=record.partition,
                          offset=record.offset)
                answers[id(record)] = Answer(None, result={"outcome": "own_event"})
                continue
            envelope = None
            try:
                read = read_fast(record.value)
                if read is None:
                    envelope = read_envelope(record.value)
                    read = envelope.id, envelope.method, to_event(envelope)
                readable.append(_Readable(record, *read))
            except WireError as error:
                letters.append(DeadLetter(record, error.code, error.message,
                                          envelope.id if envelope else None))
        return readable, letters

    async def _apply_until_done(
        self, items: list[_Readable], letters: list[DeadLetter], retry_outages: bool
    ) -> dict[int, Answer]:
        """Retry through database outages; isolate a message that fails on its own."""
        backoff = Backoff(cap=self._max_backoff)
        while True:
            try:
                started = time.perf_counter()
                answers = await self._apply(items, letters)
                metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
                return answers
            except repo.OrderStoredMeanwhile as conflict:
                log.info("orders stored meanwhile by another transaction, applying again",
                         order_ids=conflict.order_ids)
            except TRANSIENT_ERRORS as error:
                if not retry_outages:
                    raise
                metrics.DB_RETRIES.inc()
                delay = backoff.delay()
                log.warning("database unavailable, retrying", error=repr(error), retry_in=delay)
                await asyncio.sleep(delay)
            except Exception as error:  # noqa: BLE001 - isolate, then dead-letter with the reason
                if not items:  # the dead letters alone failed: nothing left to isolate
                    raise
                if len(items) > 1:
                    answers = await self._apply_until_done([], letters, retry_outages)
                    for item in items:
                        answers.update(await self._apply_until_done([item], [], retry_outages))
                    return answers
                failed = [DeadLetter(item.record, "PROCESSING_FAILED", repr(error),
                                     item.message_id) for item in items]
                return await self._apply_until_done([], [*letters, *failed], retry_outages)

    async def _apply(
        self, items: list[_Readable], letters: list[DeadLetter]
    ) -> dict[int, Answer]:
        firsts: dict[str, _Readable] = {}
        for item in items:
            firsts.setdefault(item.message_id, item)
        async with self._database.pool.acquire() as connection, connection.transaction():
            recorded = await dead_letters.record(connection, self._dead_letter_topic, letters)
            new_ids = await repo.record_inbox(
                connection,
                self._consumer,
                [(i.message_id, i.method, i.event.order_id) for i in firsts.values()],
            )
            fresh = [item for item in firsts.values() if item.message_id in new_ids]
            locked = await repo.lock_orders(connection, {item.event.order_id for item in fresh})
            watched = sorted({i.event.order_id for i in fresh}) if self._watches() else []
            # only orders with appeased money come back: the others cannot be over-credited
            appeased, holders = (
                await appeasement_repo.appeased_for_orders(connection, watched)
                if watched else ({}, {})
            )
            outcomes: list[tuple[_Readable, str]] = []
            alerts: list[OverCreditAlert] = []
            for item in fresh:
                state = locked.states[item.event.order_id]
                held = appeased.get(state.order_id)
                before = over_credit(state, held) if held else {}
                applied = state.apply(item.event, self._rules)
                outcomes.append((item, "applied" if applied else "ignored"))
                if held and applied:
                    after = over_credit(state, held)
                    for line_id, amount in newly_over_credited(before, after).items():
                        alerts.append(self._alert(
                            state, line_id, amount, item.event,
                            holders.get((state.order_id, line_id), []),
                        ))
            await repo.save_orders(connection, locked)
            for alert in alerts:
                await outbox.add(
                    connection, topic=self._alerts_topic or "", key=alert.params.order_id,
                    message_id=alert.id, payload=alert.model_dump_json(),
                )
        dead_letters.report(recorded)
        for alert in alerts:
            metrics.OVER_CREDIT_ALERTS.inc()
            log.warning("over-credit: an OMS event left appeased money credited twice",
                        **alert.params.model_dump(exclude={"code"}))
        applied_ids = {id(item) for item in fresh}
        outcomes += [(item, "duplicate") for item in items if id(item) not in applied_ids]
        self._log_outcomes(outcomes)
        answers = {id(letter.record): Answer.dead(letter) for letter in letters}
        for item, outcome in outcomes:
            answers[id(item.record)] = self._answer(item, outcome)
        return answers

    @staticmethod
    def _answer(item: _Readable, outcome: str) -> Answer:
        return Answer(item.message_id,
                      result={"outcome": outcome, "order_id": item.event.order_id})

    def _watches(self) -> bool:
        """Any applied OMS event may over-credit appeased money (a refund on top of it, a
        snapshot that drops its line or no longer counts it as paid): watch them all."""
        return self._alerts_topic is not None

    @staticmethod
    def _alert(
        state: OrderState, line_id: str, amount: int, event: OmsEvent, holders: list[str]
    ) -> OverCreditAlert:
        credit_note = event.credit_note_number if isinstance(event, OmsRefundUpdated) else None
        currency = Currency.of(state.currency)
        line = state.lines.get(line_id)
        return OverCreditAlert(
            id=ids.message_id(),
            params=OverCreditParams(
                order_id=state.order_id, order_line=line_id,
                bucket=line.bucket if line else None, amount=currency.format(amount),
                currency=currency.code, credit_note_number=credit_note,
                appeasement_ids=holders,
            ),
        )

    @staticmethod
    def _log_outcomes(outcomes: list[tuple[_Readable, str]]) -> None:
        """Counted by method and outcome; each message logged, an applied one at debug level
        (checked once: a batch applies hundreds)."""
        for (method, outcome), count in Counter(
            (item.method, outcome) for item, outcome in outcomes
        ).items():
            metrics.MESSAGES.labels(method, outcome).inc(count)
        debug = _stdlib_log.isEnabledFor(logging.DEBUG)
        for item, outcome in outcomes:
            if outcome == "applied" and not debug:
                continue
            (log.debug if outcome == "applied" else log.info)(
                f"message {outcome}",
                order_id=item.event.order_id,
                message_id=item.message_id,
                method=item.method,
                topic=item.record.topic,
                partition=item.record.partition,
                offset=item.record.offset,
            )
