"""Commands from topics: MCOM's appeasement command and the PSP's refund outcomes.

Each command is answered: a grant or a refusal on the results topic (written through the
outbox with the decision), an outcome by the status change it causes. Unreadable input is
dead-lettered with the reason and, when it names an id, refused on the results topic too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import structlog
from pydantic import ValidationError

from schemas.appeasements import (
    AmountsRequest,
    AppeasementRequest,
    LineRequest,
    LinesRequest,
    PercentRequest,
)
from schemas.commands import (
    APPEASEMENT_CREATE,
    COMMANDS,
    REFUND_RELEASE,
    AppeasementApprove,
    AppeasementCommand,
    AppeasementCreate,
    AppeasementDecline,
    RefundCancelled,
    RefundReleased,
)
from schemas.envelope import Envelope, WireError, describe, read_envelope
from service import metrics
from service.adapters import trace_context
from service.adapters.db import TRANSIENT_ERRORS
from service.domain.errors import DomainError, MalformedRequest
from service.retry import Backoff
from service.service_layer import dead_letters, ids
from service.service_layer.answers import Answer
from service.service_layer.appeasements import (
    Appeasements,
    Caller,
    DecideAppeasement,
    GrantAppeasement,
)
from service.service_layer.dead_letters import DeadLetter, InboundRecord
from service.service_layer.outcomes import Outcomes, RecordRefundOutcome
from service.service_layer.ports import PoolSource
from service.service_layer.refusals import Refusals

log = structlog.get_logger(__name__)


class Sealing(Protocol):
    def seal(self, text: str) -> str: ...


@dataclass(frozen=True, slots=True)
class CommandHandler:
    appeasements: Appeasements
    outcomes: Outcomes
    refusals: Refusals
    database: PoolSource
    dead_letter_topic: str
    results_topic: str
    sealer: Sealing
    max_backoff: float = 30.0

    async def handle_many(
        self, records: Sequence[InboundRecord], *, concurrency: int
    ) -> list[Answer]:
        """Decide a batch of commands: one key's (one order's) commands one after the other
        in the order they came, up to `concurrency` keys side by side. Answers in record
        order."""
        by_key: dict[bytes | tuple[str, int | None], list[int]] = {}
        for index, record in enumerate(records):
            by_key.setdefault(record.key or (record.topic, record.partition), []).append(index)
        answers: list[Answer | None] = [None] * len(records)
        gate = asyncio.Semaphore(concurrency)

        async def one_key(indexes: list[int]) -> None:
            async with gate:
                for index in indexes:
                    record = records[index]
                    headers = {name: value.decode("latin-1") for name, value in record.headers
                               if name in trace_context.TRACE_HEADERS}
                    with trace_context.processing(record.topic, headers):
                        answers[index] = await self.handle(record)

        await asyncio.gather(*(one_key(indexes) for indexes in by_key.values()))
        return [answer for answer in answers if answer is not None]

    async def handle(self, record: InboundRecord, *, retry_outages: bool = True) -> Answer:
        """Decide one command; its answer (also on the results topic for those that have one).

        Through a database outage it retries until done, unless `retry_outages` is off: then
        the outage is raised for a caller that can tell its sender to try again.
        """
        envelope = None
        try:
            envelope = read_envelope(record.value)
            if envelope.method not in COMMANDS:
                raise WireError("UNKNOWN_METHOD", f"no command named {envelope.method!r}")
        except WireError as error:
            return await self._dead_letter(record, error.code, error.message, envelope)
        backoff = Backoff(cap=self.max_backoff)
        while True:
            try:
                return await self._dispatch(record, envelope)
            except TRANSIENT_ERRORS as error:
                if not retry_outages:
                    raise
                metrics.DB_RETRIES.inc()
                delay = backoff.delay()
                log.warning("database unavailable, retrying", error=repr(error), retry_in=delay,
                            message_id=envelope.id, method=envelope.method)
                await asyncio.sleep(delay)
            except DomainError as error:
                return Answer(envelope.id, refusal=error)
            except Exception as error:  # noqa: BLE001 - dead-letter with the reason, go on
                return await self._dead_letter(record, "PROCESSING_FAILED", repr(error), envelope)

    async def _dispatch(self, record: InboundRecord, envelope: Envelope) -> Answer:
        model = COMMANDS[envelope.method]
        try:
            message = model.model_validate(
                {"jsonrpc": "2.0", "id": envelope.id, "method": envelope.method,
                 "params": envelope.params}
            )
        except ValidationError as error:
            answer = await self._dead_letter(
                record, "SCHEMA_VALIDATION", describe(error), envelope
            )
            if envelope.method == APPEASEMENT_CREATE:
                await self._refuse_malformed(envelope, describe(error))
            return answer
        match message:
            case AppeasementCreate():
                return await self._grant(envelope, message.params.appeasement)
            case AppeasementApprove() | AppeasementDecline():
                decision = message.params
                body = await self.appeasements.decide(DecideAppeasement(
                    appeasement_id=decision.appeasement_id,
                    decision="approve" if isinstance(message, AppeasementApprove) else "decline",
                    caller=Caller(user=decision.user, role=decision.role),
                    comment=decision.comment, channel="rpc", command_id=envelope.id,
                    reply_topic=self.results_topic,
                ))
                return Answer(envelope.id, result={"appeasement": body})
            case RefundReleased() | RefundCancelled():
                params = message.params
                outcome = await self.outcomes.record(
                    RecordRefundOutcome(
                        message_id=envelope.id,
                        action="release" if envelope.method == REFUND_RELEASE else "cancel",
                        order_id=params.order_id,
                        credit_note_number=params.credit_note_number,
                        user=params.user,
                    )
                )
                return Answer(envelope.id, result={
                    "outcome": outcome, "order_id": params.order_id,
                    "credit_note_number": params.credit_note_number,
                })
        raise AssertionError(f"no handler for {envelope.method}")  # COMMANDS names them all

    async def _grant(self, envelope: Envelope, command: AppeasementCommand) -> Answer:
        try:
            request = to_request(command)
        except (ValidationError, ValueError) as error:
            why = describe(error) if isinstance(error, ValidationError) else str(error)
            refusal = await self._refuse_malformed(envelope, why, command.order_id, command.user)
            return Answer(envelope.id, refusal=refusal)
        granted = await self.appeasements.grant(
            GrantAppeasement(
                order_id=command.order_id,
                request=request,
                caller=Caller(user=command.user, role=command.role),
                channel="rpc",
                idempotency_key=envelope.id,
                credit_note_number=command.credit_note_number,
                reply_topic=self.results_topic,
            )
        )
        return Answer(envelope.id, result={"appeasement": granted.appeasement})

    async def _refuse_malformed(
        self, envelope: Envelope, why: str, order_id: str | None = None, user: str | None = None
    ) -> MalformedRequest:
        params = envelope.params.get("appeasement")
        if order_id is None and isinstance(params, dict):
            order_id = str(params.get("order_id") or "")
        refusal = MalformedRequest(f"the command is invalid: {why}")
        await self.refusals.refuse(
            refusal,
            order_id=order_id or "", command_id=envelope.id, channel="rpc",
            reply_topic=self.results_topic, user=user, idempotency_key=envelope.id,
            request_hash=ids.fingerprint(envelope.params),
        )
        return refusal

    async def _dead_letter(
        self, record: InboundRecord, code: str, message: str, envelope: Envelope | None
    ) -> Answer:
        """Recorded in the outbox before the offset moves on: once, even when redelivered."""
        letter = DeadLetter(self._sealed(record), code, message, envelope.id if envelope else None)
        async with self.database.pool.acquire() as connection, connection.transaction():
            recorded = await dead_letters.record(connection, self.dead_letter_topic, [letter])
        dead_letters.report(recorded, "command")
        return Answer.dead(letter)

    def _sealed(self, record: InboundRecord) -> InboundRecord:
        """A command that may carry bank details is dead-lettered sealed with the bank-details
        key (header `x-sealed: fernet`): an operator holding the key can open it."""
        if record.value is None or b"iban" not in record.value.lower():
            return record
        return replace(
            record, value=self.sealer.seal(record.value.decode("utf-8", "replace")).encode(),
            headers=(*record.headers, ("x-sealed", b"fernet")),
        )


def to_request(command: AppeasementCommand) -> AppeasementRequest:
    """MCOM's command (numbers, a reason per line) as the API's request (strings, one reason)."""
    reasons = {line.reason for line in command.lines or () if line.reason}
    if command.reason:
        reasons = {command.reason}
    if len(reasons) != 1:
        raise ValueError("an appeasement has exactly one reason: give `reason` or one per line")
    descriptions = [line.reason_description for line in command.lines or () if line.reason_description]
    common = {
        "reason": reasons.pop(),
        "comment": command.comment or (descriptions[0] if descriptions else None),
        "claim_id": command.claim_id,
        "invoice_reference": command.invoice_reference,
        "refund_method": command.refund_method,
    }
    if command.amounts is not None:
        return AmountsRequest(
            **common, amounts={bucket: str(amount) for bucket, amount in command.amounts.items()}
        )
    if command.percent is not None:
        return PercentRequest(
            **common, percent=str(command.percent), include_shipping=command.include_shipping
        )
    return LinesRequest(**common, lines=[
        LineRequest(
            line_id=line.id, line_number=line.line_number,
            amount=_text(line.amount), percent=_text(line.percent),
            unit_amount=_text(line.unit_amount), quantity=line.quantity,
        )
        for line in command.lines or ()
    ])


def _text(value: object) -> str | None:
    return None if value is None else str(value)

