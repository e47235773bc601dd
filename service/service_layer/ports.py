"""What the use cases need from the outside, as protocols the adapters fulfil."""

from __future__ import annotations

from typing import Protocol

import asyncpg


class PoolSource(Protocol):
    @property
    def pool(self) -> asyncpg.Pool: ...
