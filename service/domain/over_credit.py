"""When an OMS refund lands on money already appeased, the line is credited twice."""

from __future__ import annotations

from collections.abc import Mapping

from service.domain.balance import Amounts, compute_balance
from service.domain.projection import OrderState


def over_credit(order: OrderState, appeased: Mapping[str, Amounts]) -> dict[str, int]:
    """Gross minor units by line that refunds and appeasements credited beyond what was paid."""
    if not order.known:
        return {}
    balance = compute_balance(order, appeased)
    return {
        line.line.line_id: line.over_credited.gross
        for line in balance.lines
        if line.over_credited.gross > 0
    }


def newly_over_credited(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What one event added to the over-credit, by line."""
    return {
        line: amount - before.get(line, 0)
        for line, amount in after.items()
        if amount > before.get(line, 0)
    }
