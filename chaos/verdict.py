"""A verdict under construction: counts, refusals by code, and a few examples of each fault."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from chaos.observed import Event

HOLDS_MONEY = {"PENDINGAPPROVAL", "PENDINGRELEASE", "RELEASED"}
INITIAL = {"PENDINGAPPROVAL", "PENDINGRELEASE"}
NEXT = {"PENDINGAPPROVAL": {"PENDINGRELEASE", "DECLINED"}, "PENDINGRELEASE": {"RELEASED", "FAILED"}}
ZERO = Decimal("0")


@dataclass
class Verdict:
    counts: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def flag(self, what: str, example: str) -> None:
        self.counts[what] += 1
        if len(self.examples[what]) < 3:
            self.examples[what].append(example)


def facts_of(events: list[Event]) -> tuple[dict[str, list[Event]], int]:
    """Per credit note its facts (first record of each JSON-RPC id) in topic order; repeats."""
    facts: dict[str, list[Event]] = defaultdict(list)
    seen: set[str] = set()
    repeats = 0
    for event in sorted(events, key=lambda e: (e.partition, e.offset)):
        if event.message_id in seen:
            repeats += 1
            continue
        seen.add(event.message_id)
        facts[event.credit_note].append(event)
    return facts, repeats
