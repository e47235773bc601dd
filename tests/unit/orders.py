"""Orders for domain tests, built the way the projection builds them, without any I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from service.domain.balance import Amounts, OrderBalance, compute_balance
from service.domain.events import LinePayment, OrderSnapshotReceived, SnapshotLine
from service.domain.projection import OrderState, ProjectionRules

RULES = ProjectionRules(taxation_by_store={"us-web": "net"})


def order_state(
    lines: Sequence[tuple[str, str, str, str, str]] | Sequence[tuple[str, str, str, str, str, int]],
    *, currency: str = "EUR", store: str = "eu-web", status: str = "PROCESSING",
) -> OrderState:
    """`lines` are (id, product type, gross, tax, rate[, quantity]), all captured."""
    snapshot_lines = []
    for number, spec in enumerate(lines, start=1):
        line_id, product_type, gross, tax, rate, *rest = spec
        snapshot_lines.append(SnapshotLine(
            line_id, number, product_type, f"SKU-{line_id}", rest[0] if rest else 1,
            Decimal(gross), Decimal(tax), Decimal(rate), status="ALLOCATED",
            payments=(LinePayment("CAPTURED", Decimal(gross), Decimal(tax)),),
        ))
    state = OrderState("O1")
    state.apply(OrderSnapshotReceived("O1", store, currency, tuple(snapshot_lines), status=status),
                RULES)
    return state


def balance_of(
    state: OrderState, appeased: Mapping[str, Amounts] | None = None
) -> OrderBalance:
    return compute_balance(state, appeased or {})


TABLE_ORDER = [
    ("L1", "PHYSICAL", "499.00", "86.60", "21"),
    ("L2", "PHYSICAL", "39.90", "6.92", "21", 2),
    ("L3", "SHIPPING", "5.90", "1.02", "21"),
]
US_ORDER = [
    ("L1", "PHYSICAL", "108.25", "8.25", "8.25"),
    ("L2", "SHIPPING", "10.83", "0.83", "8.25"),
]
