"""Four eyes: a held appeasement is decided by another person whose role may approve it."""

from __future__ import annotations

from decimal import Decimal

from service.domain.errors import DomainError
from service.domain.policy import Forbidden, Role, RoleLimitExceeded


class ApproverIsRequester(DomainError):
    code = "APPROVER_IS_REQUESTER"


def check_may_decide(role: Role, approver: str, requester: str, amount: Decimal) -> None:
    """The approver holds an approving role whose own limit covers the amount, and is not
    the person who asked."""
    if not role.may_approve:
        raise Forbidden(f"role {role.name} may not approve appeasements", role=role.name)
    if approver == requester:
        raise ApproverIsRequester(
            "an appeasement is approved by someone other than its requester", user=approver
        )
    if role.max_per_appeasement is not None and amount > role.max_per_appeasement:
        raise RoleLimitExceeded(
            f"role {role.name} may approve at most {role.max_per_appeasement}",
            role=role.name, limit=str(role.max_per_appeasement), requested=str(amount),
            which="approval",
        )


def check_customer_limit(role: Role, amount: Decimal, already_for_customer: Decimal) -> None:
    """What one role may give one customer over the policy's rolling window."""
    if role.max_per_customer is not None and already_for_customer + amount > role.max_per_customer:
        raise RoleLimitExceeded(
            f"role {role.name} may grant at most {role.max_per_customer} per customer "
            f"over {role.customer_window_days or 30} days",
            role=role.name, limit=str(role.max_per_customer), requested=str(amount),
            already=str(already_for_customer), which="max_per_customer",
        )
