"""Domain errors carry a stable code and the numbers that explain them."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "DOMAIN_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class MalformedRequest(DomainError):
    """A request that reads but does not make sense: a line named twice, bank details
    without a bank transfer."""

    code = "MALFORMED_REQUEST"
