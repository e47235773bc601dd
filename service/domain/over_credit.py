"""When an OMS event leaves money already appeased beyond what the line counts as paid (a
refund on top of it, a snapshot that drops the line), the line is credited twice."""

from __future__ import annotations

from collections.abc import Mapping

from service.domain.balance import Amounts, compute_balance
from service.domain.projection import OrderState


def over_credit(order: OrderState, appeased: Mapping[str, Amounts]) -> dict[str, int]:
    """Gross minor units of appeased money, by line, that refunds and appeasements credited
    beyond what counts as paid: per line min(refunded + appeased - paid, appeased)."""
    if not order.known:
        return {}
    balance = compute_balance(order, appeased)
    return {
        line.line.line_id: line.appeased_over_credited
        for line in balance.lines
        if line.appeased_over_credited > 0
    }


def newly_over_credited(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What one event added to the over-credit, by line."""
    return {
        line: amount - before.get(line, 0)
        for line, amount in after.items()
        if amount > before.get(line, 0)
    }
