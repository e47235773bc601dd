"""Load shedding: a bounded number of decisions in flight; above it, refuse at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from service import metrics
from service.domain.errors import DomainError


class Overloaded(DomainError):
    """Too many requests in flight: answered at once with 503 and Retry-After, instead of
    queueing until every caller times out."""

    code = "OVERLOADED"
    http_status = 503
    retry_after = 1


class InFlight:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    @contextmanager
    def slot(self, what: str) -> Iterator[None]:
        if self.count >= self.limit:
            metrics.SHED.labels(what).inc()
            raise Overloaded(
                f"{self.count} requests are in flight, the most this instance takes; retry "
                "in a moment", in_flight=self.count, limit=self.limit,
            )
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1
