"""The refund_management.updated event of an appeasement's status, queued in the outbox."""

from __future__ import annotations

from typing import Any

import asyncpg

from schemas.published import REFUND_UPDATED
from service.adapters import appeasement_repo as appeasements
from service.adapters import outbox
from service.adapters.sealing import Sealer
from service.domain.projection import OrderState
from service.service_layer import ids
from service.service_layer.views import refund_event


class RefundEvents:
    """Writes each status change as an MCOM refund event. Bank details reach the PSP only:
    an event that carries them is sealed in the outbox until the relay publishes it."""

    def __init__(
        self, sealer: Sealer, *, service_name: str, topic: str = REFUND_UPDATED,
        max_message_bytes: int = outbox.DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.sealer = sealer
        self._service_name = service_name
        self._topic = topic
        self.max_message_bytes = max_message_bytes

    async def queue(
        self, connection: asyncpg.Connection, appeasement_id: str, order: OrderState,
        status_reason: str,
    ) -> dict[str, Any]:
        """Queue the event for the appeasement as it now is; returns the appeasement."""
        record = (await appeasements.load(connection, [appeasement_id]))[0]
        message = self.message(record, order, status_reason)
        await outbox.add(
            connection, topic=message.topic, key=message.key, message_id=message.message_id,
            payload=message.payload, sealed=message.sealed, max_bytes=self.max_message_bytes,
        )
        return record

    def message(
        self, record: dict[str, Any], order: OrderState, status_reason: str
    ) -> outbox.Message:
        """The event for the appeasement `record` describes, sealed when it carries bank
        details; MessageTooLarge when the broker would not take it."""
        sealed = record.get("bank_details")
        event = refund_event(
            {**record, "refund_method": self.sealer.open_json(sealed)} if sealed else record,
            order, event_id=ids.message_id(), status_reason=status_reason,
            service_name=self._service_name,
        )
        payload = event.model_dump_json()
        outbox.check_size(payload, self.max_message_bytes)
        return outbox.Message(
            self._topic, order.order_id, event.id,
            self.sealer.seal(payload) if sealed else payload, bool(sealed),
        )
