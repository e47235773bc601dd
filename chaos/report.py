"""The final table."""

from __future__ import annotations

from chaos.ledger import Ledger
from chaos.verdict import Verdict

VIOLATIONS = (
    "commands unanswered", "conflicting replies", "same-body retry refused", "facts missing",
    "facts doubled", "over-credited orders", "projection mismatches",
    "appeased: balance vs events", "dead letters doubled", "poison not dead-lettered",
    "unexpected dead letters", "ordering violations", "did not settle",
)


def latencies(ledger: Ledger) -> str:
    """From the first send to the answer (retries included), per channel: p50 / p99 / max."""
    parts = []
    for channel in ("http", "rpc"):
        took = sorted(g.answered_at - g.sent_at for g in ledger.grants
                      if g.channel == channel and g.answered_at is not None)
        if took:
            p50, p99 = took[len(took) // 2], took[min(len(took) - 1, len(took) * 99 // 100)]
            parts.append(f"{channel} p50 {p50:.2f} s, p99 {p99:.1f} s, max {took[-1]:.1f} s")
    return "; ".join(parts) or "none"


def violations(verdict: Verdict) -> int:
    return sum(verdict.counts[name] for name in VIOLATIONS)


def render(verdict: Verdict, ledger: Ledger, *, title: str, longest_gap: float,
           notes: list[str]) -> str:
    c = verdict.counts
    accepted = c["accepted http 201"] + c["accepted http 200 replay"] + c["accepted topic result"]
    rows: list[tuple[str, object, str]] = [
        ("grants sent", len(ledger.grants), f"http {c['sent http']}, topic {c['sent rpc']}"),
        ("  accepted", accepted, f"http 201 {c['accepted http 201']}, http 200 replay "
         f"{c['accepted http 200 replay']}, topic result {c['accepted topic result']}"),
        ("  refused", sum(verdict.refused.values()), "by code:"),
        *((f"    {code}", count, "") for code, count in verdict.refused.most_common()),
        ("  http unresolved (client gave up)", c["http unresolved"], ""),
        ("  commands not taken by the broker", c["commands not taken by the broker"], ""),
        ("  commands unanswered", c["commands unanswered"], "acked by the broker, no reply"),
        ("  conflicting replies", c["conflicting replies"], "one command id, different answers"),
        ("  same-body retry refused", c["same-body retry refused"], "IDEMPOTENCY_KEY_REUSED"),
        ("PSP outcomes sent", len(ledger.outcomes), "release / cancel of granted ones"),
        ("facts missing", c["facts missing"], "accepted, not visible over GET or no event"),
        ("facts doubled", c["facts doubled"], "two appeasements per key, or one status twice"),
        ("duplicate wire messages", c["duplicate wire messages"], "same JSON-RPC id again: allowed"),
        ("over-credited orders", c["over-credited orders"], "appeased + refunded > paid"),
        ("projection mismatches", c["projection mismatches"], "paid / refunded vs the seed"),
        ("appeased: balance vs events", c["appeased: balance vs events"], "orders whose differ"),
        ("poison messages sent", c["poison sent"], f"dead-lettered {c['poison dead-lettered']}"),
        ("dead letters", c["dead letters"], "records on the dead-letter topic"),
        ("  dead letters doubled", c["dead letters doubled"], "one origin, dead-lettered twice"),
        ("  dead letters repeated (same id)", c["dead letters repeated (same id)"],
         "one letter republished: allowed"),
        ("  poison not dead-lettered", c["poison not dead-lettered"], ""),
        ("  unexpected dead letters", c["unexpected dead letters"], "good input dead-lettered"),
        ("ordering violations", c["ordering violations"], "per credit note and per order"),
        ("did not settle", c["did not settle"], "answers still due, or topics still moving"),
        ("longest HTTP unavailability", f"{longest_gap:.1f} s", "/healthz without a 200"),
    ]
    width = 72
    lines = ["=" * width, title, "-" * width]
    for label, value, note in rows:
        flag = "  VIOLATION" if label.strip() in VIOLATIONS and value else ""
        lines.append(f"{label:<36}{value!s:>8}  {note}{flag}")
    lines.append("-" * width)
    lines += [f"fault {i}: {fault}" for i, fault in enumerate(ledger.faults, 1)]
    lines += notes
    retried = ", ".join(f"{why} x{n}" for why, n in ledger.retried.most_common())
    lines.append(f"note: HTTP attempts retried (same key and body): {retried or 'none'}")
    lines.append(f"note: grant answered after (http: HTTP answer, rpc: reply seen): "
                 f"{latencies(ledger)}")
    for name in (*VIOLATIONS, "repeated"):
        for example in verdict.examples.get(name, []):
            lines.append(f"  e.g. {name}: {example}")
    total = violations(verdict)
    lines += ["=" * width, f"RESULT: {'PASS' if not total else f'FAIL ({total} violations)'}"]
    return "\n".join(lines)
