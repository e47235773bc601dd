"""Refused commands: kept in the audit log, answered on their reply topic, logged once."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import structlog

from schemas.commands import CommandResult, RpcError, RpcErrorData
from service import metrics
from service.adapters import appeasement_repo as appeasements
from service.adapters import outbox
from service.domain.errors import DomainError
from service.service_layer import ids
from service.service_layer.ports import PoolSource

log = structlog.get_logger(__name__)


class Refusals:
    def __init__(self, database: PoolSource) -> None:
        self._database = database

    async def refuse(
        self, error: DomainError, *, order_id: str, command_id: str, channel: str,
        reply_topic: str | None = None, user: str | None = None, role: str | None = None,
        idempotency_key: str | None = None, request_hash: str | None = None,
    ) -> None:
        """Audit a command refused before any decision (and answer it); no money moves."""
        async with self._database.pool.acquire() as connection, connection.transaction():
            await audit(
                connection, error, order_id=order_id, command_id=command_id, channel=channel,
                reply_topic=reply_topic, user=user, role=role,
                idempotency_key=idempotency_key, request_hash=request_hash,
            )
        count(error, channel)


async def audit(
    connection: asyncpg.Connection, error: DomainError, *, order_id: str, command_id: str,
    channel: str, reply_topic: str | None, user: str | None, role: str | None,
    idempotency_key: str | None = None, request_hash: str | None = None,
    reason: str | None = None,
) -> None:
    """The refusal in the audit log (kept under its key when it has one), its reply queued,
    and one log line with its context."""
    details = jsonable(error.details)
    await appeasements.record_rejection(
        connection, order_id=order_id, channel=channel, command_id=command_id,
        actor=user, role=role, code=error.code, message=error.message, details=details,
        idempotency_key=idempotency_key, request_hash=request_hash, reason=reason,
    )
    if reply_topic is not None:
        await reply(connection, reply_topic, command_id, order_id, error=error)
    log.info(
        "appeasement rejected", code=error.code, reason=error.message, order_id=order_id,
        command_id=command_id, user=user, role=role, channel=channel,
        **{f"detail_{key}": value for key, value in details.items()},
    )


def count(error: DomainError, channel: str) -> None:
    metrics.APPEASEMENTS.labels(channel, "rejected").inc()
    metrics.REJECTIONS.labels(error.code).inc()


def jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(details, default=str))


async def reply(
    connection: asyncpg.Connection, topic: str, command_id: str, order_id: str, *,
    result: dict[str, Any] | None = None, error: DomainError | None = None,
) -> None:
    """A JSON-RPC response with the command's id, queued with the decision it reports."""
    message = reply_message(topic, command_id, order_id, result=result, error=error)
    await outbox.add(
        connection, topic=message.topic, key=message.key, message_id=message.message_id,
        payload=message.payload,
    )


def reply_message(
    topic: str, command_id: str, order_id: str, *,
    result: dict[str, Any] | None = None, error: DomainError | None = None,
) -> outbox.Message:
    """The JSON-RPC response to a command: its result, or its error with the rule's code."""
    response = CommandResult(
        id=command_id,
        result=None if result is None else {"appeasement": result},
        error=None if error is None else rpc_error(error),
    )
    payload = response.model_dump_json(exclude_none=True)
    outbox.check_size(payload)
    return outbox.Message(topic, order_id or command_id, ids.message_id(), payload)


def rpc_error(error: DomainError) -> RpcError:
    """A refusal as a JSON-RPC error: application code -32000, the rule code in `data`."""
    return RpcError(
        message=error.message,
        data=RpcErrorData(
            code=error.code, **{k: v for k, v in jsonable(error.details).items() if k != "code"},
        ),
    )
