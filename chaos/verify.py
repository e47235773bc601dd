"""The verdict: what the run sent and was told, against what the topics and the API show."""

from __future__ import annotations

from collections import Counter, defaultdict

from chaos.checks import dead_letters, money, ordering
from chaos.ledger import Ledger
from chaos.observed import Event, Observed
from chaos.seed import OrderPlan
from chaos.verdict import Verdict, facts_of
from schemas.commands import REFUND_RELEASE


def verify(ledger: Ledger, plans: list[OrderPlan], seen: Observed,
           answered_at: dict[str, float]) -> Verdict:
    verdict = Verdict()
    facts, verdict.counts["duplicate wire messages"] = facts_of(seen.events)
    _answers(ledger, seen, answered_at, verdict)
    _missing(ledger, seen, facts, verdict)
    _doubled(seen, facts, verdict)
    money(plans, seen, facts, verdict)
    dead_letters(ledger, seen, verdict)
    ordering(ledger, facts, verdict)
    return verdict


def _answers(ledger: Ledger, seen: Observed, answered_at: dict[str, float], verdict: Verdict) -> None:
    """Fill the topic grants from their replies; count what came back."""
    for grant in ledger.grants:
        if grant.channel == "rpc" and grant.key in seen.replies:
            replies = seen.replies[grant.key]
            first = replies[0]
            grant.answered_at = answered_at.get(grant.key)
            if "result" in first:
                appeasement = first["result"].get("appeasement", {})
                grant.appeasement_id, grant.status = appeasement.get("id"), appeasement.get("status")
            else:
                grant.code = ((first.get("error") or {}).get("data") or {}).get("code", "ERROR")
            if any(reply != first for reply in replies[1:]):
                verdict.flag("conflicting replies", f"{grant.key}: {len(replies)} replies differ")
        kind = "accepted" if grant.appeasement_id else "refused" if grant.code else None
        verdict.counts[f"sent {grant.channel}"] += 1
        if kind == "accepted":
            how = {201: "http 201", 200: "http 200 replay"}.get(grant.http_status or 0, "topic result")
            verdict.counts[f"accepted {how}"] += 1
        elif kind == "refused":
            verdict.refused[grant.code or "?"] += 1
            if grant.code == "IDEMPOTENCY_KEY_REUSED":  # we only ever repeat the same body
                verdict.flag("same-body retry refused", f"{grant.key} on {grant.order_id}")
        elif grant.channel == "http":
            verdict.flag("http unresolved", f"{grant.key} on {grant.order_id}: {grant.attempts} tries")
        elif grant.acked:
            verdict.flag("commands unanswered", f"{grant.key} on {grant.order_id}")
        else:
            verdict.counts["commands not taken by the broker"] += 1


def _missing(ledger: Ledger, seen: Observed, facts: dict[str, list[Event]], verdict: Verdict) -> None:
    for grant in ledger.grants:
        if not grant.appeasement_id:
            continue
        statuses = {event.status for event in facts.get(grant.appeasement_id, [])}
        if seen.visible.get(grant.appeasement_id) != 200:
            verdict.flag("facts missing", f"{grant.appeasement_id} ({grant.key}): GET "
                         f"/v1/appeasements answered {seen.visible.get(grant.appeasement_id)}")
        elif grant.status not in statuses:
            verdict.flag("facts missing", f"{grant.appeasement_id} ({grant.key}): no "
                         f"{grant.status} event (saw {sorted(statuses) or 'none'})")
    for appeasement_id, order_id, action, acked in ledger.outcomes:
        wanted = "RELEASED" if action == REFUND_RELEASE else "FAILED"
        if acked and wanted not in {e.status for e in facts.get(appeasement_id, [])}:
            verdict.flag("facts missing", f"{appeasement_id} on {order_id}: the PSP's {action} "
                         f"never became a {wanted} event")


def _doubled(seen: Observed, facts: dict[str, list[Event]], verdict: Verdict) -> None:
    by_command: dict[str, set[str]] = defaultdict(set)
    for event in seen.events:
        if event.command_id:
            by_command[event.command_id].add(event.credit_note)
    for _order_id, listed in seen.listed.items():
        for appeasement in listed:
            by_command[appeasement["command_id"]].add(appeasement["id"])
    for command_id, notes in by_command.items():
        if len(notes) > 1:
            verdict.flag("facts doubled", f"command {command_id}: appeasements {sorted(notes)}")
    for note, events in facts.items():
        for status, count in Counter(e.status for e in events).items():
            if count > 1:
                verdict.flag("facts doubled", f"{note} {status} published as {count} messages")
