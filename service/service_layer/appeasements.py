"""Preview, grant and approve appeasements: one transaction locks, decides, reserves and
queues the refund event and the reply; a refusal is audited in that same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import asyncpg
import structlog

from schemas.appeasements import (
    AmountsRequest,
    AppeasementRequest,
    PercentRequest,
    PreviewOut,
    RefundMethod,
)
from service import metrics
from service.adapters import appeasement_repo as appeasements
from service.adapters import decision_repo as decisions
from service.adapters import projection_repo as orders
from service.domain.appeasement import AmountsAsk, Ask, LineAsk, LinesAsk, PercentAsk, UnknownLine
from service.domain.approval import check_may_decide
from service.domain.balance import Amounts, compute_balance
from service.domain.bank import BankDetailsRequired, check_bank_account, refund_needs_transfer
from service.domain.errors import DomainError, MalformedRequest
from service.domain.grant import Decision, decide
from service.domain.lifecycle import PENDING_RELEASE, decided_status
from service.domain.money import Currency, InvalidAmount
from service.domain.policy import DEFAULT_CUSTOMER_WINDOW_DAYS, Already, Policy
from service.domain.projection import OrderState
from service.service_layer import ids, refusals
from service.service_layer.claims import check_claim_open
from service.service_layer.history import AppeasementNotFound
from service.service_layer.load import InFlight, OrderTurns, Overloaded
from service.service_layer.ports import PoolSource
from service.service_layer.queries import OrderNotFound
from service.service_layer.refund_events import RefundEvents
from service.service_layer.refusals import Refusals
from service.service_layer.views import appeasement_out, preview_out

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Caller:
    user: str
    role: str


@dataclass(frozen=True, slots=True)
class GrantAppeasement:
    order_id: str
    request: AppeasementRequest
    caller: Caller
    channel: Literal["http", "rpc", "bulk"]
    idempotency_key: str
    credit_note_number: str | None = None
    reply_topic: str | None = None


@dataclass(frozen=True, slots=True)
class DecideAppeasement:
    """A second person approves or declines a held appeasement."""

    appeasement_id: str
    decision: Literal["approve", "decline"]
    caller: Caller
    comment: str | None = None
    channel: Literal["http", "rpc"] = "http"
    command_id: str | None = None
    reply_topic: str | None = None


@dataclass(frozen=True, slots=True)
class Granted:
    appeasement: dict[str, Any]
    replayed: bool


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"


class RefusedBefore(DomainError):
    """The refusal first given under an idempotency key, given again: same code, same words."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message, **details)
        self.code = code  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class _Context:
    order: OrderState
    now: datetime
    appeased: dict[str, Amounts]
    held: decisions.Held | None
    already: Already


class Appeasements:
    """The appeasement use cases, over the database and the policy built at start-up."""

    def __init__(
        self,
        database: PoolSource,
        policy: Policy,
        events: RefundEvents,
        *,
        refund_unable: frozenset[str] = frozenset({"cod"}),
        max_in_flight: int = 64,
        max_waiting_per_order: int = 8,
        max_loop_lag: float = 0.5,
        latency_target: float | None = None,
    ) -> None:
        self._database = database
        self._policy = policy
        self._events = events
        self._refusals = Refusals(database)
        self._in_flight = InFlight(max_in_flight, max_lag=max_loop_lag, target=latency_target)
        self._turns = OrderTurns(max_waiting_per_order)
        self._refund_unable = frozenset(method.lower() for method in refund_unable)

    def overloaded(self, what: str) -> Overloaded | None:
        """Why an HTTP grant or preview would be shed now, before anything of it is read."""
        return self._in_flight.refusal(what)

    async def watch_load(self) -> None:
        """Keep the event loop's lag measured, for load shedding; runs until cancelled."""
        await self._in_flight.watch()

    # --- commands -------------------------------------------------------------------
    async def preview(
        self, order_id: str, request: AppeasementRequest, caller: Caller
    ) -> PreviewOut:
        """The allocation a grant would make now; nothing is stored or reserved."""
        with self._in_flight.slot("preview"):
            return await self._preview(order_id, request, caller)

    async def _preview(
        self, order_id: str, request: AppeasementRequest, caller: Caller
    ) -> PreviewOut:
        async with self._database.pool.acquire() as connection, connection.transaction(
            isolation="repeatable_read", readonly=True
        ):
            row = await decisions.read_order(connection, order_id)
            if row is None:
                raise OrderNotFound(order_id)
            context = await self._context(connection, row, request.reason, caller.role)
        order = context.order
        self._refund_method(order, request.refund_method)
        decision = self._decide(context, request, caller)
        currency = Currency.of(order.currency)
        return preview_out(
            order_id, currency, request.reason, decision.allocation, decision.status
        )

    async def grant(self, command: GrantAppeasement) -> Granted:
        """Decide and reserve under the customer's and the order's locks; a refusal changes
        only the audit log, and is kept under the idempotency key like a grant. Over HTTP,
        above `max_in_flight` grants at once, or `max_waiting_per_order` on one order, the
        caller is told to retry (OVERLOADED)."""
        if command.channel == "http":
            with self._in_flight.slot("grant"):
                async with self._turns.turn(command.order_id, "grant"):
                    return await self._grant(command)
        return await self._grant(command)

    async def _grant(self, command: GrantAppeasement) -> Granted:
        attempts = 0
        while True:
            attempts += 1
            try:
                granted = await self._grant_once(command)
                break
            except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError,
                    asyncpg.InvalidCachedStatementError, asyncpg.OutdatedSchemaCacheError):
                if attempts >= 3:
                    raise
        outcome = "replayed" if granted.replayed else "granted"
        metrics.APPEASEMENTS.labels(command.channel, outcome).inc()
        log.info(
            f"appeasement {outcome}",
            order_id=command.order_id, command_id=command.idempotency_key,
            appeasement_id=granted.appeasement["id"], amount=granted.appeasement["amount"],
            currency=granted.appeasement["currency"], user=command.caller.user,
            role=command.caller.role, channel=command.channel,
        )
        return granted

    async def decide(self, command: DecideAppeasement) -> dict[str, Any]:
        """Approve (PENDINGRELEASE) or decline (DECLINED, money back) a held appeasement."""
        try:
            return await self._decide_once(command)
        except DomainError as error:
            async with self._database.pool.acquire() as connection:
                order_id = await appeasements.order_of(connection, command.appeasement_id)
            await self._refusals.refuse(
                error, order_id=order_id or "", channel=command.channel,
                command_id=command.command_id or f"{command.decision}:{command.appeasement_id}",
                reply_topic=command.reply_topic, user=command.caller.user,
                role=command.caller.role,
            )
            raise

    async def _decide_once(self, command: DecideAppeasement) -> dict[str, Any]:
        async with self._database.pool.acquire() as connection, connection.transaction():
            order_id = await appeasements.order_of(connection, command.appeasement_id)
            order_row = None if order_id is None else await decisions.lock_order(
                connection, order_id
            )
            row = None if order_row is None else await appeasements.lock(
                connection, command.appeasement_id
            )
            if order_row is None or row is None:
                raise AppeasementNotFound(
                    f"no appeasement {command.appeasement_id}",
                    appeasement_id=command.appeasement_id,
                )
            order_id = order_row["order_id"]
            if command.channel == "rpc" and command.command_id:
                fresh = await orders.record_inbox(
                    connection, "decisions",
                    [(command.command_id, f"appeasement.{command.decision}", order_id)],
                )
                if not fresh:
                    record = (await appeasements.load(connection, [row["appeasement_id"]]))[0]
                    body = appeasement_out(record).model_dump(mode="json")
                    if command.reply_topic is not None:
                        await refusals.reply(connection, command.reply_topic, command.command_id,
                                     order_id, result=body)
                    return body
            role = self._policy.check_may(command.caller.role, "approve")
            target = decided_status(row["status"], command.decision)
            context = await self._context(
                connection, order_row, row["reason"], role.name, leaving_out=row["appeasement_id"]
            )
            order = context.order
            if command.decision == "approve":
                amount = Currency.of(row["currency"]).to_major(row["amount_minor"])
                check_may_decide(role, command.caller.user, row["requested_by"], amount,
                                 context.already)
            else:
                check_may_decide(role, command.caller.user, row["requested_by"], Decimal(0))
            why = "APPROVED" if command.decision == "approve" else "DECLINED"
            await appeasements.set_status(
                connection, row["appeasement_id"], target,
                approved_by=command.caller.user if command.decision == "approve" else None,
            )
            await appeasements.add_transition(
                connection, row["appeasement_id"], row["status"], target,
                actor=command.caller.user, role=command.caller.role, reason=why,
                comment=command.comment,
            )
            record = await self._events.queue(connection, row["appeasement_id"], order, why)
            body = appeasement_out(record).model_dump(mode="json")
            if command.reply_topic is not None:
                await refusals.reply(connection, command.reply_topic,
                             command.command_id or row["appeasement_id"], order.order_id,
                             result=body)
        metrics.TRANSITIONS.labels(target).inc()
        log.info(
            f"appeasement {why.lower()}", appeasement_id=row["appeasement_id"],
            order_id=order.order_id, from_status=row["status"], to_status=target,
            user=command.caller.user, role=command.caller.role, command_id=command.command_id,
        )
        return body

    # --- mechanics ------------------------------------------------------------------
    async def _grant_once(self, command: GrantAppeasement) -> Granted:
        request_hash = _request_hash(command)
        audit: dict[str, Any] = {
            "order_id": command.order_id, "command_id": command.idempotency_key,
            "channel": command.channel, "reply_topic": command.reply_topic,
            "user": command.caller.user, "role": command.caller.role,
            "reason": command.request.reason,
        }
        key = (command.channel, command.idempotency_key)
        answer: Granted | DomainError
        async with self._database.pool.acquire() as connection, connection.transaction():
            order_row = await decisions.lock_order(connection, command.order_id)
            context = None if order_row is None else await self._context(
                connection, order_row, command.request.reason, command.caller.role, key=key
            )
            held = context.held if context else await decisions.find_by_key(connection, *key)
            if held is not None and held.request_hash == request_hash:
                answer = await self._answer_again(connection, command, held)
            elif held is not None:
                answer = IdempotencyKeyReused(
                    f"idempotency key {command.idempotency_key} was used for another request",
                    idempotency_key=command.idempotency_key,
                    appeasement_id=held.appeasement_id,
                )
                await refusals.audit(connection, answer, **audit)
            else:
                try:
                    if context is None:
                        raise OrderNotFound(command.order_id)
                    body = await self._decide_and_reserve(connection, command, context,
                                                          request_hash)
                    answer = Granted(body, replayed=False)
                except DomainError as error:
                    answer = error
                    await refusals.audit(
                        connection, error, **audit, idempotency_key=command.idempotency_key,
                        request_hash=request_hash,
                    )
        if isinstance(answer, DomainError):
            if not isinstance(answer, RefusedBefore):
                refusals.count(answer, command.channel)
            raise answer
        return answer

    async def _answer_again(
        self, connection: asyncpg.Connection, command: GrantAppeasement, held: decisions.Held
    ) -> Granted | RefusedBefore:
        """The first answer under this key, for the same request: its grant, or its refusal
        (returned, to be raised once the reply it queues is committed)."""
        if held.appeasement_id is None:
            error = RefusedBefore(held.code or "", held.message or "", held.details or {})
            await _reply_to(connection, command, error=error)
            log.info("refusal replayed", code=error.code, order_id=command.order_id,
                     command_id=command.idempotency_key, channel=command.channel)
            return error
        body = held.first_response or {}
        await _reply_to(connection, command, result=body)
        return Granted(body, replayed=True)

    async def _decide_and_reserve(
        self, connection: asyncpg.Connection, command: GrantAppeasement,
        context: _Context, request_hash: str,
    ) -> dict[str, Any]:
        """Decide on the locked order, then write the appeasement, its allocation, audit row,
        refund event and reply in one statement: a broken rule is found before anything is
        written."""
        order = context.order
        request = command.request
        if request.claim_id is not None:
            await check_claim_open(connection, request.claim_id, command.order_id)
        refund_method, bank_details = self._refund_method(order, request.refund_method)
        appeasement_id = command.credit_note_number or ids.appeasement_id()
        if command.credit_note_number and await appeasements.exists(connection, appeasement_id):
            raise IdempotencyKeyReused(
                f"credit note number {appeasement_id} is already used",
                credit_note_number=appeasement_id,
            )
        decision = self._decide(context, request, command.caller)
        pieces = list(decision.allocation.pieces)
        record: dict[str, Any] = {
            "appeasement_id": appeasement_id, "order_id": command.order_id,
            "channel": command.channel, "idempotency_key": command.idempotency_key,
            "request_hash": request_hash, "command_id": command.idempotency_key,
            "status": decision.status, "reason": request.reason,
            "comment": request.comment, "claim_id": request.claim_id,
            "invoice_reference": request.invoice_reference, "refund_method": refund_method,
            "bank_details": bank_details, "requested_by": command.caller.user,
            "role": command.caller.role, "approved_by": None, "currency": order.currency,
            "taxation": decision.allocation.taxation,
            "amount_minor": decision.allocation.total.gross, "customer_id": order.customer.id,
            "created_at": context.now, "updated_at": context.now, "pieces": pieces,
            "transitions": [{
                "from_status": None, "to_status": decision.status,
                "actor": command.caller.user, "role": command.caller.role,
                "reason": request.reason, "comment": request.comment, "at": context.now,
            }],
        }
        body = appeasement_out(record).model_dump(mode="json")
        messages = [self._events.message(
            record, order,
            "REQUESTED" if decision.status == PENDING_RELEASE else "ABOVE_ROLE_LIMIT",
        )]
        if command.reply_topic is not None:
            messages.append(refusals.reply_message(
                command.reply_topic, command.idempotency_key, command.order_id, result=body
            ))
        await decisions.write_grant(connection, {**record, "first_response": body}, pieces,
                                    messages)
        metrics.TRANSITIONS.labels(decision.status).inc()
        return body

    def _decide(self, context: _Context, request: AppeasementRequest, caller: Caller) -> Decision:
        order = context.order
        balance = compute_balance(order, context.appeased)
        return decide(
            balance, to_ask(request, order, balance.currency), reason_code=request.reason,
            role_name=caller.role, policy=self._policy, already=context.already,
        )

    async def _context(
        self, connection: asyncpg.Connection, order_row: asyncpg.Record, reason: str,
        role_name: str, leaving_out: str | None = None, key: tuple[str, str] | None = None,
    ) -> _Context:
        """The order and what the decision reads besides it: appeased money by line, what
        the cumulative limits count, what the idempotency key already answered."""
        role = self._policy.roles.get(role_name)
        window = (role.customer_window_days if role else None) or DEFAULT_CUSTOMER_WINDOW_DAYS
        read = await decisions.load_context(
            connection, order_row, reason=reason, window_days=window, leaving_out=leaving_out,
            key=key,
        )
        currency = Currency.of(read.order.currency)
        return _Context(read.order, read.now, read.appeased, read.held, Already(
            on_order=currency.to_major(read.on_order),
            for_reason=currency.to_major(read.for_reason),
            for_customer=currency.to_major(read.for_customer),
        ))

    def _refund_method(
        self, order: OrderState, method: RefundMethod | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """What is shown of the refund method, and the bank details sealed for the PSP."""
        if method is None or method.type != "bank_transfer":
            if refund_needs_transfer(order.payment_method, self._refund_unable):
                raise BankDetailsRequired(
                    f"order {order.order_id} was paid by {order.payment_method}, which cannot "
                    "refund: give refund_method bank_transfer with account_owner, iban and bic",
                    payment_method=order.payment_method,
                )
            if method is not None and method.payment_reference is not None:
                check_payment_reference(order, method.payment_reference)
            return (method.model_dump(exclude_none=True) if method else None), None
        account = check_bank_account(method.account_owner, method.iban, method.bic)
        shown = {"type": "bank_transfer", "iban": account.masked_iban, "bic": account.bic}
        sealed = self._events.sealer.seal_json({
            "type": "bank_transfer", "account_owner": account.account_owner,
            "iban": account.iban, "bic": account.bic,
        })
        return shown, sealed

def check_payment_reference(order: OrderState, reference: str) -> None:
    """A refund to the original payment names one of the order's payments."""
    known = {order.payment_reference} | {line.payment_reference for line in order.lines.values()}
    known.discard(None)
    if reference not in known:
        raise MalformedRequest(
            f"order {order.order_id} has no payment {reference!r}",
            field="refund_method.payment_reference", known=sorted(k for k in known if k),
        )


def to_ask(request: AppeasementRequest, order: OrderState, currency: Currency) -> Ask:
    """The request in minor units of the order's currency; exact, never rounded."""
    match request:
        case AmountsRequest():
            return AmountsAsk({b: currency.parse_exact(t) for b, t in request.amounts.items()})
        case PercentRequest():
            return PercentAsk(_percent(request.percent), request.include_shipping)
    by_number = {line.line_number: line.line_id for line in order.lines.values()}
    asks = []
    for item in request.lines:
        line_id = item.line_id or by_number.get(item.line_number or -1)
        if line_id is None:
            raise UnknownLine(
                f"order has no line number {item.line_number}", line_number=item.line_number
            )
        asks.append(LineAsk(
            line_id,
            amount=None if item.amount is None else currency.parse_exact(item.amount),
            percent=None if item.percent is None else _percent(item.percent),
            unit_amount=None if item.unit_amount is None else currency.parse_exact(
                item.unit_amount
            ),
            quantity=item.quantity,
        ))
    return LinesAsk(tuple(asks))


def _percent(text: str) -> Decimal:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidAmount(text, "not a percentage") from None


def _request_hash(command: GrantAppeasement) -> str:
    return ids.fingerprint({
        "order_id": command.order_id,
        "credit_note_number": command.credit_note_number,
        "request": command.request.model_dump(mode="json", exclude_none=True),
    })


async def _reply_to(
    connection: asyncpg.Connection, command: GrantAppeasement, *,
    result: dict[str, Any] | None = None, error: DomainError | None = None,
) -> None:
    if command.reply_topic is not None:
        await refusals.reply(
            connection, command.reply_topic, command.idempotency_key, command.order_id,
            result=result, error=error,
        )
