"""The availability a client sees: /healthz every 100 ms."""

from __future__ import annotations

import asyncio
import time

import httpx


class Prober:
    """GET /healthz every 100 ms: the longest time without a 200, once the first one came."""

    def __init__(self, url: str) -> None:
        self.url, self.longest, self.last_ok = url, 0.0, None
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=0.5) as client:
            while not self.stop.is_set():
                try:
                    ok = (await client.get(f"{self.url}/healthz")).status_code == 200
                except httpx.TransportError:
                    ok = False
                now = time.monotonic()
                if ok:
                    if self.last_ok is not None:
                        self.longest = max(self.longest, now - self.last_ok)
                    self.last_ok = now
                await asyncio.sleep(0.1)
        if self.last_ok is not None:  # still down at the end counts too
            self.longest = max(self.longest, time.monotonic() - self.last_ok)
