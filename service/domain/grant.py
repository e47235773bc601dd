"""Whether an appeasement may be granted: the balance rules, then the policy's."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from service.domain.appeasement import (
    CHARGE_BUCKETS,
    Allocation,
    AmountsAsk,
    Ask,
    LinesAsk,
    PercentAsk,
    check_appeasable,
    plan,
)
from service.domain.balance import OrderBalance
from service.domain.lifecycle import PENDING_APPROVAL, PENDING_RELEASE
from service.domain.policy import (
    Already,
    Policy,
    RoleLimitExceeded,
    check_buckets_allowed,
    check_reason_limits,
    check_role_limits,
)


@dataclass(frozen=True, slots=True)
class Decision:
    """An accepted appeasement: its exact allocation and the status it starts in."""

    allocation: Allocation
    status: str
    amount: Decimal


def decide(
    balance: OrderBalance,
    ask: Ask,
    *,
    reason_code: str,
    role_name: str,
    policy: Policy,
    already: Already = Already(),
) -> Decision:
    """Check the reason, the role, the balance and the limits; raise the first rule broken.

    `already` is what accepted appeasements hold (see `Already`). Above the role's limits
    the appeasement is refused, or held for approval when the role says so.
    """
    role = policy.check_may(role_name, "grant")
    reason = policy.reason(reason_code)
    check_appeasable(balance)
    check_buckets_allowed(reason, requested_buckets(balance, ask))
    allocation = plan(balance, ask, allowed=reason.buckets)
    currency = balance.currency
    amount = currency.to_major(allocation.total.gross)
    check_reason_limits(
        reason, amount, currency.to_major(balance.totals.paid.gross), already.for_reason
    )
    try:
        check_role_limits(role, amount, already)
    except RoleLimitExceeded:
        if role.above_limit != "hold":
            raise
        return Decision(allocation, PENDING_APPROVAL, amount)
    return Decision(allocation, PENDING_RELEASE, amount)


def requested_buckets(balance: OrderBalance, ask: Ask) -> set[str]:
    """The buckets a request names, known before it is allocated."""
    match ask:
        case AmountsAsk():
            return {bucket for bucket, amount in ask.amounts.items() if amount}
        case PercentAsk():
            return {"product", "shipping"} if ask.include_shipping else {"product"}
        case LinesAsk():
            buckets = {line.line.line_id: line.line.bucket for line in balance.lines}
            return {buckets[a.line_id] for a in ask.lines if a.line_id in buckets}
    return set(CHARGE_BUCKETS)
