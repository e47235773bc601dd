"""What became of one inbound message: what a transport that answers its sender tells it.

Kafka answers nobody (commands answer on their reply topic, written with the decision);
MCOM's HTTP ingress turns an Answer into its JSON-RPC response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.domain.errors import DomainError
from service.service_layer.dead_letters import DeadLetter


@dataclass(frozen=True, slots=True)
class Answer:
    """Exactly one of: a result (taken, or seen before), a refusal by a rule (stored in the
    audit log, answered on the reply topic too), or a dead letter (could not be read)."""

    message_id: str | None
    result: dict[str, Any] | None = None
    refusal: DomainError | None = None
    letter: DeadLetter | None = None

    @classmethod
    def dead(cls, letter: DeadLetter) -> Answer:
        return cls(letter.message_id, letter=letter)
