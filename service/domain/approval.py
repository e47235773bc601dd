"""Four eyes: a held appeasement is decided by another person whose role may approve it."""

from __future__ import annotations

from decimal import Decimal

from service.domain.errors import DomainError
from service.domain.policy import Already, Forbidden, Role, check_role_limits


class ApproverIsRequester(DomainError):
    code = "APPROVER_IS_REQUESTER"


def check_may_decide(
    role: Role, approver: str, requester: str, amount: Decimal, already: Already = Already()
) -> None:
    """The approver holds an approving role, is not the person who asked, and approving
    keeps within the approver's own limits: per appeasement, and what is already granted
    on the order and to the customer."""
    if not role.may_approve:
        raise Forbidden(f"role {role.name} may not approve appeasements", role=role.name)
    if approver == requester:
        raise ApproverIsRequester(
            "an appeasement is approved by someone other than its requester", user=approver
        )
    check_role_limits(role, amount, already)
