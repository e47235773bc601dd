"""Identifiers this service mints: sortable appeasement references, unique message ids."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from typing import Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def appeasement_id() -> str:
    """`APP-` and a ULID: sortable by creation time, unique without coordination."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "APP-" + "".join(reversed(chars))


def message_id() -> str:
    return str(uuid.uuid4())


def fingerprint(document: Any) -> str:
    """What an idempotency key remembers of a request: the SHA-256 of its canonical JSON."""
    canonical = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
