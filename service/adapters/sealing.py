"""Sealing sensitive data at rest (bank details) with Fernet from `cryptography`.

BANK_DETAILS_KEY holds one key, or several separated by commas: the first seals, every one
opens (MultiFernet). To rotate, put a new key first and keep the old ones after it, then
`python -m service bank-key rotate` re-seals every sealed value with the first key; once it
reports nothing left under an old key, the old keys can go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SealingKeyError(ValueError):
    pass


def _keys(text: str) -> list[Fernet]:
    keys = [part.strip() for part in text.split(",") if part.strip()]
    if not keys:
        raise SealingKeyError("BANK_DETAILS_KEY is empty")
    try:
        return [Fernet(key.encode()) for key in keys]
    except (ValueError, TypeError):
        raise SealingKeyError(
            "BANK_DETAILS_KEY is not a Fernet key, or a comma-separated list of them (each 32 "
            "url-safe base64-encoded bytes); make one with `python -m service bank-key`"
        ) from None


class Sealer:
    """Encrypts and authenticates what must not be readable in the database or its backups."""

    def __init__(self, key: str) -> None:
        keys = _keys(key)
        self._current = keys[0]
        self._fernet = MultiFernet(keys)

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

    def is_current(self, token: str) -> bool:
        """Whether `token` was sealed with the first key (nothing to rotate)."""
        try:
            self._current.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same content sealed with the first key; SealingKeyError when no key opens it."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SealingKeyError("sealed data does not open with BANK_DETAILS_KEY") from None


def new_key() -> str:
    return Fernet.generate_key().decode()


def key_file(path: Path) -> str:
    """The key kept in `path`, made on first use (readable by its owner only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new_key() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()
