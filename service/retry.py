"""One way to wait before trying again: exponential backoff with jitter."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable


class Backoff:
    """0.1 s, 0.2 s, 0.4 s ... up to `cap`, each drawn between half and all of it, so that
    replicas that failed together do not retry together."""

    def __init__(
        self, first: float = 0.1, cap: float = 30.0, draw: Callable[[], float] = random.random
    ) -> None:
        self.first = first
        self.cap = cap
        self._draw = draw
        self._next = first

    def delay(self) -> float:
        """The next wait, and the one after it doubled."""
        ceiling = min(self._next, self.cap)
        self._next = min(self._next * 2, self.cap)
        return ceiling / 2 + self._draw() * ceiling / 2

    def reset(self) -> None:
        self._next = self.first

    async def wait(self) -> float:
        delay = self.delay()
        await asyncio.sleep(delay)
        return delay
