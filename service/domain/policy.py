"""Reasons, roles and their limits: who may give what, for which reason.

Limits are plain numbers applied in the order's currency (50.00 means 50.00 EUR on a
euro order and 50 JPY on a yen order); a deployment that mixes currencies sets them per
the smallest one or runs a policy per store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from service.domain.errors import DomainError

BUCKETS = frozenset({"product", "shipping", "handling", "fee", "tax", "overage"})


class UnknownReason(DomainError):
    code = "UNKNOWN_REASON"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class BucketNotAllowedForReason(DomainError):
    code = "BUCKET_NOT_ALLOWED_FOR_REASON"


class ReasonLimitExceeded(DomainError):
    code = "REASON_LIMIT_EXCEEDED"


class RoleLimitExceeded(DomainError):
    code = "ROLE_LIMIT_EXCEEDED"


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    label: str
    buckets: frozenset[str]
    max_amount: Decimal | None = None
    max_percent_of_order: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    max_per_appeasement: Decimal | None = None
    max_per_order: Decimal | None = None
    may_approve: bool = False
    above_limit: str = "reject"
    max_per_customer: Decimal | None = None
    customer_window_days: int | None = None


@dataclass(frozen=True, slots=True)
class Already:
    """What accepted appeasements already hold, in the order's currency, for cumulative limits.

    `on_order` and `for_customer` count granted money (pending release or released): a
    role's limits bound what it lets out. `for_reason` also counts held appeasements: a
    reason's cap bounds everything asked for that reason on the order.
    """

    on_order: Decimal = Decimal(0)
    for_reason: Decimal = Decimal(0)
    for_customer: Decimal = Decimal(0)


#: What a caller may do, each checked on every route and command that does it.
ACTIONS = ("read", "grant", "approve", "claims")


@dataclass(frozen=True, slots=True)
class Policy:
    reasons: Mapping[str, Reason]
    roles: Mapping[str, Role]
    access: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def reason(self, code: str) -> Reason:
        try:
            return self.reasons[code]
        except KeyError:
            raise UnknownReason(
                f"unknown reason {code!r}", reason=code, known=sorted(self.reasons)
            ) from None

    def role(self, name: str) -> Role:
        try:
            return self.roles[name]
        except KeyError:
            raise Forbidden(f"role {name!r} is unknown to the policy", role=name) from None

    def check_may(self, role_name: str, action: str) -> Role:
        """The caller's role, when the policy lets it do `action`; a role it does not know
        may do nothing."""
        role = self.role(role_name)
        if role_name not in self.access.get(action, frozenset()):
            raise Forbidden(
                f"role {role_name!r} may not {action}", role=role_name, action=action
            )
        return role


def check_buckets_allowed(reason: Reason, buckets: Iterable[str]) -> None:
    for bucket in sorted(buckets):
        if bucket not in reason.buckets:
            raise BucketNotAllowedForReason(
                f"{reason.code} may not credit {bucket}",
                reason=reason.code, bucket=bucket, allowed=sorted(reason.buckets),
            )


def check_reason_limits(
    reason: Reason, amount: Decimal, order_total: Decimal, already: Decimal = Decimal(0)
) -> None:
    """A reason's caps count what that reason already holds on the order, plus this request."""
    limits: list[tuple[str, Decimal]] = []
    if reason.max_amount is not None:
        limits.append(("max_amount", reason.max_amount))
    if reason.max_percent_of_order is not None:
        limits.append(("max_percent_of_order", order_total * reason.max_percent_of_order / 100))
    for which, limit in limits:
        if already + amount > limit:
            shown = limit.quantize(amount, rounding=ROUND_DOWN)
            raise ReasonLimitExceeded(
                f"{reason.code} allows at most {shown} per order"
                + (f" ({reason.max_percent_of_order} % of it)"
                   if which == "max_percent_of_order" else ""),
                reason=reason.code, limit=str(shown), requested=str(amount),
                already=str(already), which=which,
            )


def check_role_limits(role: Role, amount: Decimal, already: Already) -> None:
    """The role's own limits: per appeasement, per order and per customer, cumulative."""
    if role.max_per_appeasement is not None and amount > role.max_per_appeasement:
        raise _role_limit(role, "max_per_appeasement", role.max_per_appeasement, amount,
                          Decimal(0), "at once")
    if role.max_per_order is not None and already.on_order + amount > role.max_per_order:
        raise _role_limit(role, "max_per_order", role.max_per_order, amount, already.on_order,
                          "per order")
    if (role.max_per_customer is not None
            and already.for_customer + amount > role.max_per_customer):
        raise _role_limit(
            role, "max_per_customer", role.max_per_customer, amount, already.for_customer,
            f"per customer over {role.customer_window_days or DEFAULT_CUSTOMER_WINDOW_DAYS} days",
        )


DEFAULT_CUSTOMER_WINDOW_DAYS = 30


def _role_limit(
    role: Role, which: str, limit: Decimal, amount: Decimal, already: Decimal, scope: str
) -> RoleLimitExceeded:
    return RoleLimitExceeded(
        f"role {role.name} may grant at most {limit} {scope}",
        role=role.name, limit=str(limit), requested=str(amount), already=str(already),
        which=which,
    )
