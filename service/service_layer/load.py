"""Load shedding: a bounded number of decisions in flight; above it, refuse at once."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from service import metrics
from service.domain.errors import DomainError


class Overloaded(DomainError):
    """Too many requests in flight: answered at once with 503 and Retry-After, instead of
    queueing until every caller times out."""

    code = "OVERLOADED"
    http_status = 503
    retry_after = 1


class InFlight:
    """At most `limit` requests at once; none while the event loop runs `max_lag` seconds
    late (the worst of the last second), since a request let in then would wait behind the
    work already queued.

    With a `target`, the limit follows the load: when even the quickest request of an
    `interval` took longer than `target`, requests queue behind each other for nothing, and
    the limit is cut by a quarter (to `floor` at least); after an interval without that it
    grows back by one, up to `ceiling`. A burst that passes lowers nothing.
    """

    def __init__(
        self, limit: int, max_lag: float = 0.5, tick: float = 0.05, *,
        target: float | None = None, floor: int = 2, interval: float = 0.5,
    ) -> None:
        self.ceiling = limit
        self.limit = limit
        self.count = 0
        self.max_lag = max_lag
        self.target = target
        self._floor = max(1, min(floor, limit))
        self._interval = interval
        self._window_started = time.monotonic()
        self._quickest = math.inf
        self._tick = tick
        self._recent: deque[float] = deque([0.0], maxlen=max(1, round(1 / tick)))
        metrics.IN_FLIGHT_LIMIT.set(limit)

    def observe(self, seconds: float, now: float) -> None:
        """A request let in took `seconds`, ending at `now` (monotonic)."""
        if self.target is None:
            return
        self._quickest = min(self._quickest, seconds)
        if now - self._window_started < self._interval:
            return
        if self._quickest > self.target:
            self.limit = max(self._floor, math.floor(self.limit * 0.75))
        elif self.limit < self.ceiling:
            self.limit += 1
        metrics.IN_FLIGHT_LIMIT.set(self.limit)
        self._window_started, self._quickest = now, math.inf

    @property
    def lag(self) -> float:
        return max(self._recent)

    async def watch(self) -> None:
        """Measure how late the event loop wakes a timer, every `tick` seconds, until
        cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            asleep = loop.time()
            await asyncio.sleep(self._tick)
            self._recent.append(max(0.0, loop.time() - asleep - self._tick))

    def refusal(self, what: str) -> Overloaded | None:
        """Why a request must be refused now (counted as shed), or None."""
        if self.count >= self.limit:
            metrics.SHED.labels(what).inc()
            return Overloaded(
                f"{self.count} requests are in flight, the most this instance takes; retry "
                "in a moment", in_flight=self.count, limit=self.limit,
            )
        if self.lag > self.max_lag:
            metrics.SHED.labels(what).inc()
            return Overloaded(
                f"this instance runs {self.lag * 1000:.0f} ms behind; retry in a moment",
                lag_ms=round(self.lag * 1000), max_lag_ms=round(self.max_lag * 1000),
            )
        return None

    @contextmanager
    def slot(self, what: str) -> Iterator[None]:
        refused = self.refusal(what)
        if refused is not None:
            raise refused
        self.count += 1
        started = time.monotonic()
        try:
            yield
        finally:
            self.count -= 1
            ended = time.monotonic()
            self.observe(ended - started, ended)


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class OrderTurns:
    """Decisions on one order take turns in memory before they take a database connection:
    a hot order's queue waits here, not in the pool every other order needs. Past
    `max_waiting` on one order, the next is refused at once (OVERLOADED). The database's
    row lock still orders decisions across instances."""

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self._turns: dict[str, _Turn] = {}

    @asynccontextmanager
    async def turn(self, order_id: str, what: str) -> AsyncIterator[None]:
        turn = self._turns.setdefault(order_id, _Turn())
        if turn.waiting >= self.max_waiting:
            metrics.SHED.labels(what).inc()
            raise Overloaded(
                f"{turn.waiting} decisions wait for order {order_id}, the most one order "
                "takes; retry in a moment", order_id=order_id, waiting=turn.waiting,
                limit=self.max_waiting,
            )
        turn.waiting += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.waiting -= 1
            if turn.waiting == 0:
                del self._turns[order_id]
