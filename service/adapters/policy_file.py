"""The policy file (TOML), validated at start: a bad key stops the service with its path."""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from service.domain.policy import ACTIONS, Policy, Reason, Role

_REASON_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


class PolicyFileError(ValueError):
    pass


def _amount(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError("write amounts as strings (\"50.00\"), never as TOML floats")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a finite amount >= 0")
    return amount


Amount = Annotated[Decimal, BeforeValidator(_amount)]
BucketName = Literal["product", "shipping", "handling", "fee", "tax", "overage"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonEntry(_Strict):
    label: str
    buckets: list[BucketName] = Field(min_length=1)
    max_amount: Amount | None = None
    max_percent_of_order: Amount | None = Field(None, gt=0, le=100)


class RoleEntry(_Strict):
    max_per_appeasement: Amount | None = None
    max_per_order: Amount | None = None
    may_approve: bool = False
    above_limit: Literal["reject", "hold"] = "reject"
    max_per_customer: Amount | None = None
    customer_window_days: int | None = Field(None, ge=1)


class AccessEntry(_Strict):
    """Which roles may do what; an action left out defaults as documented in policy.toml."""

    read: list[str] | None = None
    grant: list[str] | None = None
    approve: list[str] | None = None
    claims: list[str] | None = None


class PolicyEntry(_Strict):
    reasons: dict[str, ReasonEntry] = Field(min_length=1)
    roles: dict[str, RoleEntry] = Field(min_length=1)
    access: AccessEntry = AccessEntry()


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PolicyFileError(f"{path}: {error}") from None
    try:
        entry = PolicyEntry.model_validate(document)
    except ValidationError as error:
        problems = [
            f"{path.name}: {'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False)
        ]
        raise PolicyFileError("; ".join(problems)) from None
    bad_codes = [code for code in entry.reasons if not _REASON_CODE.match(code)]
    if bad_codes:
        raise PolicyFileError(f"{path.name}: reasons.{bad_codes[0]}: codes are UPPER_SNAKE_CASE")
    return Policy(
        reasons={
            code: Reason(code, r.label, frozenset(r.buckets), r.max_amount, r.max_percent_of_order)
            for code, r in entry.reasons.items()
        },
        roles={
            name: Role(name, r.max_per_appeasement, r.max_per_order, r.may_approve,
                       r.above_limit, r.max_per_customer, r.customer_window_days)
            for name, r in entry.roles.items()
        },
        access=_access(path, entry),
    )


def _access(path: Path, entry: PolicyEntry) -> dict[str, frozenset[str]]:
    """Every declared role may read, grant and handle claims; roles with may_approve may
    approve. A role the policy does not declare may do nothing."""
    defaults = {
        "read": list(entry.roles), "grant": list(entry.roles), "claims": list(entry.roles),
        "approve": [name for name, role in entry.roles.items() if role.may_approve],
    }
    access: dict[str, frozenset[str]] = {}
    for action in ACTIONS:
        roles = getattr(entry.access, action)
        roles = defaults[action] if roles is None else roles
        for name in roles:
            if name not in entry.roles:
                raise PolicyFileError(
                    f"{path.name}: access.{action}: role {name!r} is not declared in [roles]"
                )
            if action == "approve" and not entry.roles[name].may_approve:
                raise PolicyFileError(
                    f"{path.name}: access.approve: role {name!r} needs may_approve = true"
                )
        access[action] = frozenset(roles)
    return access
