"""Sealing sensitive data at rest (bank details) with Fernet from `cryptography`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class SealingKeyError(ValueError):
    pass


class Sealer:
    """Encrypts and authenticates what must not be readable in the database or its backups."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.strip().encode())
        except (ValueError, TypeError):
            raise SealingKeyError(
                "BANK_DETAILS_KEY is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `python -m service bank-key`"
            ) from None

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SealingKeyError("sealed data does not open with BANK_DETAILS_KEY") from None

    def seal_json(self, value: dict[str, Any]) -> str:
        return self.seal(json.dumps(value))

    def open_json(self, token: str) -> dict[str, Any]:
        return json.loads(self.open(token))


def new_key() -> str:
    return Fernet.generate_key().decode()


def key_file(path: Path) -> str:
    """The key kept in `path`, made on first use (readable by its owner only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new_key() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()
