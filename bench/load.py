"""Open-loop load: requests leave on a fixed schedule whether or not earlier ones answered,
over keep-alive HTTP/1.1 connections opened as needed, so a slow service cannot slow the
offer down. Each latency runs from the scheduled moment (no coordinated omission)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connections:
    """A pool of HTTP/1.1 keep-alive connections to one host, grown on demand."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        #: the longest a new connection took to open, in seconds
        self.slowest_open = 0.0

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        """One request; on a kept-alive connection the server closed meanwhile, once more on
        a new one (every request here carries its idempotency key)."""
        reused = bool(self._idle)
        try:
            return await self._post(path, body, headers)
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            return await self._post(path, body, headers, fresh=True)

    async def _post(
        self, path: str, body: bytes, headers: dict[str, str], fresh: bool = False
    ) -> Answer:
        reader, writer = await (self._open() if fresh else self._take())
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode() + body
        )
        try:
            status_line = await reader.readuntil(b"\r\n")
            answer_headers: dict[str, str] = {}
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                answer_headers[name.strip().lower()] = value.strip()
            payload = await reader.readexactly(int(answer_headers.get("content-length", "0")))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            raise
        if answer_headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self._idle.append((reader, writer))
        return Answer(int(status_line.split()[1]), answer_headers, payload)

    async def _take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not writer.is_closing():
                return reader, writer
        return await self._open()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        started = time.perf_counter()
        opened = await asyncio.open_connection(self._host, self._port)
        self.slowest_open = max(self.slowest_open, time.perf_counter() - started)
        return opened

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


@dataclass
class Offer:
    """What an open-loop run sent and what came back."""

    sent: int = 0
    failed: int = 0
    #: the most a request started after its scheduled moment, in seconds: the generator's
    #: own lateness, which every latency measured from the schedule includes
    late: float = 0.0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


async def open_loop(
    rate: float, seconds: float, send: Callable[[int, float], Awaitable[None]]
) -> Offer:
    """Call `send(n, scheduled_at)` `rate` times a second for `seconds`, each in its own task;
    returns once every call has finished."""
    offer = Offer()

    async def guarded(number: int, scheduled: float) -> None:
        offer.late = max(offer.late, time.perf_counter() - scheduled)
        try:
            await send(number, scheduled)
        except Exception:  # noqa: BLE001 - a refused connection or a dropped answer is counted
            offer.failed += 1

    async for number, scheduled in _schedule(rate, seconds):
        task = asyncio.create_task(guarded(number, scheduled))
        offer.tasks.add(task)
        task.add_done_callback(offer.tasks.discard)
        offer.sent += 1
    await asyncio.gather(*offer.tasks)
    return offer


@dataclass
class Steady:
    """What a steady run sent, and the most it fell behind its schedule, in seconds."""

    sent: int = 0
    late: float = 0.0


async def steadily(
    rate: float, seconds: float, send: Callable[[int, float], Awaitable[None]]
) -> Steady:
    """Call `send(n, scheduled_at)` `rate` times a second for `seconds`, one call after the
    other from one task: for a Kafka producer, whose `send` waits only for room in a batch,
    never for the broker's acknowledgement. A slow broker makes this late (reported), where
    a task per message would pile up thousands of senders, all woken by each drained batch."""
    steady = Steady()
    async for number, scheduled in _schedule(rate, seconds):
        await send(number, scheduled)
        steady.sent += 1
        steady.late = max(steady.late, time.perf_counter() - scheduled)
    return steady


async def _schedule(rate: float, seconds: float) -> AsyncIterator[tuple[int, float]]:
    """(n, the moment it is due) `rate` times a second for `seconds`, each given at its
    moment, or at once when it is already past."""
    start = time.perf_counter() + 0.05
    for number in range(int(rate * seconds)):
        scheduled = start + number / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield number, scheduled
