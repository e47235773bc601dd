"""Money, dead letters and order: the checks that read the balances and the topics' order."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from chaos.ledger import Ledger
from chaos.observed import Event, Observed
from chaos.seed import OrderPlan
from chaos.verdict import HOLDS_MONEY, INITIAL, NEXT, ZERO, Verdict


def _gross(figures: dict | None, name: str) -> Decimal:
    return Decimal(((figures or {}).get(name) or {}).get("gross", "0"))


def money(plans: list[OrderPlan], seen: Observed, facts: dict[str, list[Event]],
          verdict: Verdict) -> None:
    """Appeased + refunded never above paid, per line, by the balance and by the events;
    the balance's paid and refunded money is what the newest snapshot and refunds said."""
    held: dict[str, Counter[str]] = defaultdict(Counter)
    for events in facts.values():
        final = events[-1]
        if final.status in HOLDS_MONEY:
            for line_id, gross in final.allocation:
                held[final.order_id][line_id] += gross
    for plan in plans:
        paid, refunded, order_id = plan.paid(), plan.refunded(), plan.order_id
        balance = seen.balances.get(order_id)
        lines = {line["line_id"]: line for line in (balance or {}).get("lines", [])}
        over = [f"{line_id} events {gross} + refunded {refunded.get(line_id, ZERO)} > paid "
                f"{paid.get(line_id, ZERO)}" for line_id, gross in held[order_id].items()
                if gross + refunded.get(line_id, ZERO) > paid.get(line_id, ZERO)]
        if balance is None:
            verdict.flag("projection mismatches", f"{order_id}: no balance")
        wrong, differ = [], []
        for line_id in sorted(set(paid) | set(lines) if balance else ()):
            line = lines.get(line_id)
            for name, expected in (("paid", paid), ("refunded", refunded)):
                if _gross(line, name) != expected.get(line_id, ZERO):
                    wanted = expected.get(line_id, ZERO)
                    wrong.append(f"{line_id} {name} {_gross(line, name)} != {wanted}")
            appeased = _gross(line, "appeased")
            if appeased + _gross(line, "refunded") > paid.get(line_id, ZERO):
                over.append(f"{line_id} balance appeased {appeased} + refunded "
                            f"{_gross(line, 'refunded')} > paid {paid.get(line_id, ZERO)}")
            if appeased != held[order_id][line_id]:
                differ.append(f"{line_id} balance {appeased} != events {held[order_id][line_id]}")
        for what, found in (("projection mismatches", wrong), ("over-credited orders", over),
                            ("appeased: balance vs events", differ)):
            if found:
                verdict.flag(what, f"{order_id}: {'; '.join(found)}")


def dead_letters(ledger: Ledger, seen: Observed, verdict: Verdict) -> None:
    poison = {p["key"]: p for p in ledger.poison}
    by_key = Counter(letter["key"] for letter in seen.dead)
    where: dict[tuple, list[dict]] = defaultdict(list)
    for letter in seen.dead:
        where[_origin(letter)].append(letter)
    verdict.counts["poison sent"] = len(poison)
    verdict.counts["dead letters"] = len(seen.dead)
    for key, sent in poison.items():
        if sent["offset"] is None:
            verdict.counts["poison not taken by the broker"] += 1
        elif not by_key[key]:
            verdict.flag("poison not dead-lettered",
                         f"{sent['kind']} on {sent['topic']}[{sent['partition']}]@{sent['offset']}")
        else:
            verdict.counts["poison dead-lettered"] += 1
    for (topic, partition, offset), letters in where.items():
        ids = {letter.get("correlation_id") for letter in letters}
        if len(letters) > 1 and (len(ids) > 1 or None in ids):  # dead-lettered twice
            verdict.flag("dead letters doubled", f"{topic}[{partition}]@{offset} x{len(letters)}, "
                         f"ids {sorted(map(str, ids))}")
        elif len(letters) > 1:  # the same letter again on the wire, as the contract allows
            verdict.counts["dead letters repeated (same id)"] += len(letters) - 1
            if len(verdict.examples["repeated"]) < 3:
                verdict.examples["repeated"].append(f"{topic}[{partition}]@{offset} "
                                                    f"x{len(letters)} as {ids.pop()}")
    for letter in seen.dead:
        if letter["key"] not in poison:
            verdict.flag("unexpected dead letters", f"{letter.get('x-error-code')} from "
                         f"{letter.get('x-original-topic')} key {letter['key']}: "
                         f"{letter.get('x-error-message', '')[:160]}")


def _origin(letter: dict) -> tuple[str | None, str | None, str | None]:
    return (letter.get("x-original-topic"), letter.get("x-original-partition"),
            letter.get("x-original-offset"))


def ordering(ledger: Ledger, facts: dict[str, list[Event]], verdict: Verdict) -> None:
    """Per credit note no status goes back; per order, a grant answered before another was
    sent is published before it."""
    for note, events in facts.items():
        if events[0].status not in INITIAL:
            verdict.flag("ordering violations", f"{note}: first event is {events[0].status}")
        for before, after in zip(events, events[1:], strict=False):
            if after.status != before.status and after.status not in NEXT.get(before.status, ()):
                verdict.flag("ordering violations", f"{note}: {before.status} -> {after.status}")
        if any(e.key != e.order_id for e in events):
            verdict.flag("ordering violations", f"{note}: keyed by something else than the order")
    first = {note: events[0] for note, events in facts.items()}
    by_order = defaultdict(list)
    for grant in ledger.grants:
        if grant.appeasement_id in first and grant.answered_at is not None:
            by_order[grant.order_id].append(grant)
    for order_id, grants in by_order.items():
        for a in grants:
            for b in grants:
                if a.answered_at < b.sent_at and a.appeasement_id != b.appeasement_id:
                    ea, eb = first[a.appeasement_id], first[b.appeasement_id]
                    if (ea.partition, ea.offset) > (eb.partition, eb.offset):
                        verdict.flag("ordering violations", f"{order_id}: {b.appeasement_id} "
                                     f"published before {a.appeasement_id}, granted earlier")
