"""The secret an integration bus presents with each delivery, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SharedSecret:
    """`header: <scheme> <secret>` (e.g. `Authorization: Bearer ...`), or with an empty
    scheme `header: <secret>` (e.g. `X-Integration-Secret: ...`)."""

    header: str
    scheme: str
    secret: str = field(repr=False)

    def admits(self, presented: str | None) -> bool:
        """Whether the header's value carries the secret. Both sides are hashed before the
        constant-time comparison, so neither the content nor the length of the secret shows
        in the time an answer takes."""
        if presented is None:
            return False
        value = presented.strip()
        if self.scheme:
            scheme, _, value = value.partition(" ")
            if scheme.lower() != self.scheme.lower():  # the scheme is no secret
                return False
            value = value.strip()
        return hmac.compare_digest(_digest(value), _digest(self.secret))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()
