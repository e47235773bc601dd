"""What the service publishes, declared so that the AsyncAPI document shows it.

Messages themselves leave through the outbox relay; these declarations carry their schemas.
"""

from faststream.kafka import KafkaBroker

from schemas.commands import CommandResult
from schemas.published import (
    REFUND_UPDATED,
    AppeasementRefundUpdated,
    OverCreditAlert,
    QuarantineAlert,
)


def declare_publications(
    broker: KafkaBroker, *, results_topic: str, alerts_topic: str, dead_letter_topic: str
) -> None:
    broker.publisher(
        REFUND_UPDATED,
        title="appeasement-refunds",
        description="Every appeasement status change, as an MCOM refund with refund_type "
        "Appeasement; key = order id; a fresh id per publication",
        schema=AppeasementRefundUpdated,
    )
    broker.publisher(
        results_topic,
        title="command-results",
        description="The JSON-RPC response to each appeasement command, with the command's id",
        schema=CommandResult,
    )
    broker.publisher(
        alerts_topic,
        title="alerts",
        description="OVER_CREDIT: an OMS event made appeased money credited twice; the "
        "balance clamps at zero and the OMS can net it off",
        schema=OverCreditAlert,
    )
    broker.publisher(
        alerts_topic,
        title="alerts-outbox",
        description="OUTBOX_QUARANTINED: a message failed on its own too many times; its key "
        "waits until an operator retries or skips it",
        schema=QuarantineAlert,
    )
    broker.publisher(
        dead_letter_topic,
        title="dead-letters",
        description="Unreadable input: the original bytes and headers, plus x-error-code, "
        "x-error-message, x-original-topic, x-original-partition, x-original-offset",
        schema=bytes,
    )
