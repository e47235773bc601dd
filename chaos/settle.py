"""Waiting for the system to settle: every answer the run expects arrived and nothing moves."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from chaos.bus import Tail
from chaos.ledger import Ledger
from schemas.commands import REFUND_RELEASE


def pending(tail: Tail, ledger: Ledger) -> Counter[str]:
    """Answers still due, by kind: replies to commands, events of accepted grants and of PSP
    outcomes, dead letters of poison messages."""
    due: Counter[str] = Counter()
    for grant in ledger.grants:
        if grant.channel == "rpc" and grant.acked:
            reply = tail.replies.get(grant.key)
            if reply is None:
                due["replies"] += 1
                continue
            appeasement = (reply[1].get("result") or {}).get("appeasement") or {}
            if appeasement and (appeasement.get("id"), appeasement.get("status")) not in tail.events:
                due["events"] += 1
        elif grant.appeasement_id and (grant.appeasement_id, grant.status) not in tail.events:
            due["events"] += 1
    for appeasement_id, _, action, acked in ledger.outcomes:
        status = "RELEASED" if action == REFUND_RELEASE else "FAILED"
        due["outcome events"] += acked and (appeasement_id, status) not in tail.events
    due["dead letters"] += sum(1 for p in ledger.poison
                               if p["offset"] is not None and not tail.dead_keys[p["key"]])
    return +due


async def settle(tail: Tail, ledger: Ledger, limit: float, say: Callable[[str], None],
                 quiet: float = 3.0) -> str:
    """Until nothing is due and the topics were quiet for `quiet` s, or `limit` s passed."""
    started = told = time.monotonic()
    while True:
        due = pending(tail, ledger)
        if time.monotonic() - told >= 5:
            told = time.monotonic()
            say(f"  settling: still due {_listed(due)}")
        still = time.monotonic() - tail.changed_at
        if not due and still >= quiet:
            return f"settled after {time.monotonic() - started:.1f} s"
        if time.monotonic() - started > limit:
            return f"NOT settled after {limit:.0f} s: still due {_listed(due)}"
        await asyncio.sleep(0.25)


def _listed(due: Counter[str]) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in due.items()) or "nothing"


def service_events(work: Path, top: int = 8) -> str:
    """The warnings and errors the service instances logged (JSON lines), most frequent first."""
    counts: Counter[str] = Counter()
    for log in sorted(work.glob("service-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                counts["(not JSON) " + line[:60]] += "Traceback" in line or "Error" in line
                continue
            if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
                counts[f"{entry['level']}: {str(entry.get('event', '')).strip()[:60]}"] += 1
    shown = [f"{event} x{count}" for event, count in counts.most_common(top) if count]
    return "; ".join(shown) or "none"
