"""What the run sent and every answer it got: the verifier's only own source of truth."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Grant:
    key: str
    channel: str  # http or rpc
    order_id: str
    role: str
    body: dict[str, Any]
    sent_at: float = 0.0
    answered_at: float | None = None
    http_status: int | None = None
    code: str | None = None
    appeasement_id: str | None = None
    status: str | None = None
    attempts: int = 0
    acked: bool = False  # rpc: the broker took the command


@dataclass
class Ledger:
    """Everything the run sent and every answer it got: the verifier's only own source."""

    grants: list[Grant] = field(default_factory=list)
    #: PSP outcomes sent: (appeasement id, order id, release or cancel topic, taken by the broker)
    outcomes: list[tuple[str, str, str, bool]] = field(default_factory=list)
    poison: list[dict[str, Any]] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    retried: Counter[str] = field(default_factory=Counter)  # why an HTTP attempt was retried
