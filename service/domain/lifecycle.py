"""An appeasement's statuses and the transitions between them."""

from __future__ import annotations

from service.domain.errors import DomainError

PENDING_APPROVAL = "PENDINGAPPROVAL"
PENDING_RELEASE = "PENDINGRELEASE"
RELEASED = "RELEASED"
FAILED = "FAILED"
DECLINED = "DECLINED"

#: Statuses whose allocation holds money against the balance.
HOLDS_MONEY = frozenset({PENDING_APPROVAL, PENDING_RELEASE, RELEASED})
#: Statuses of money let out: what a role's cumulative limits count.
GRANTED = frozenset({PENDING_RELEASE, RELEASED})

STATUS_NAMES = {
    PENDING_APPROVAL: "Pending approval",
    PENDING_RELEASE: "Pending release",
    RELEASED: "Released",
    FAILED: "Failed",
    DECLINED: "Declined",
}

_TRANSITIONS = {
    (PENDING_RELEASE, "release"): RELEASED,
    (PENDING_RELEASE, "cancel"): FAILED,
    (PENDING_APPROVAL, "approve"): PENDING_RELEASE,
    (PENDING_APPROVAL, "decline"): DECLINED,
}
_ALREADY_THERE = {("release", RELEASED), ("cancel", FAILED)}


class TransitionRefused(DomainError):
    code = "TRANSITION_REFUSED"


class NotPendingApproval(DomainError):
    code = "NOT_PENDING_APPROVAL"


def next_status(current: str, action: str) -> str | None:
    """The status `action` leads to; None when it was already done (a repeated PSP outcome)."""
    if (action, current) in _ALREADY_THERE:
        return None
    target = _TRANSITIONS.get((current, action))
    if target is not None:
        return target
    if action in ("approve", "decline"):
        raise NotPendingApproval(
            f"the appeasement is {current}, not pending approval", status=current
        )
    raise TransitionRefused(
        f"cannot {action} an appeasement that is {current}", status=current, action=action
    )


def decided_status(current: str, decision: str) -> str:
    """Where approving or declining leads: only a held appeasement can be decided."""
    target = _TRANSITIONS.get((current, decision)) if current == PENDING_APPROVAL else None
    if target is None:
        raise NotPendingApproval(
            f"the appeasement is {current}, not pending approval", status=current
        )
    return target
