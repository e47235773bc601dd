"""Reasons, roles and their limits: who may give what, for which reason.

Limits are plain numbers applied in the order's currency (50.00 means 50.00 EUR on a
euro order and 50 JPY on a yen order); a deployment that mixes currencies sets them per
the smallest one or runs a policy per store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

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
class Policy:
    reasons: Mapping[str, Reason]
    roles: Mapping[str, Role]

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


def check_buckets_allowed(reason: Reason, buckets: Iterable[str]) -> None:
    for bucket in sorted(buckets):
        if bucket not in reason.buckets:
            raise BucketNotAllowedForReason(
                f"{reason.code} may not credit {bucket}",
                reason=reason.code, bucket=bucket, allowed=sorted(reason.buckets),
            )


def check_reason_limits(reason: Reason, amount: Decimal, order_total: Decimal) -> None:
    if reason.max_amount is not None and amount > reason.max_amount:
        raise ReasonLimitExceeded(
            f"{reason.code} allows at most {reason.max_amount}",
            reason=reason.code, limit=str(reason.max_amount), requested=str(amount),
            which="max_amount",
        )
    if reason.max_percent_of_order is not None:
        limit = order_total * reason.max_percent_of_order / 100
        if amount > limit:
            raise ReasonLimitExceeded(
                f"{reason.code} allows at most {reason.max_percent_of_order} % of the order",
                reason=reason.code, limit=str(limit.normalize()), requested=str(amount),
                which="max_percent_of_order",
            )


def check_role_limits(role: Role, amount: Decimal, already_on_order: Decimal) -> None:
    if role.max_per_appeasement is not None and amount > role.max_per_appeasement:
        raise RoleLimitExceeded(
            f"role {role.name} may grant at most {role.max_per_appeasement} at once",
            role=role.name, limit=str(role.max_per_appeasement), requested=str(amount),
            already=str(already_on_order), which="max_per_appeasement",
        )
    if role.max_per_order is not None and already_on_order + amount > role.max_per_order:
        raise RoleLimitExceeded(
            f"role {role.name} may grant at most {role.max_per_order} per order",
            role=role.name, limit=str(role.max_per_order), requested=str(amount),
            already=str(already_on_order), which="max_per_order",
        )
