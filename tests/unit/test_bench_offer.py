"""The benchmarks' steady offer: one sender on a schedule, late rather than piled up."""

from __future__ import annotations

import asyncio

from bench.load import steadily


async def test_a_steady_offer_sends_in_order_one_at_a_time_and_reports_when_late():
    # given a sender that is slow for a while (a broker with a full batch)
    calls: list[int] = []
    at_once = 0
    most_at_once = 0

    async def send(number: int, scheduled: float) -> None:
        nonlocal at_once, most_at_once
        at_once += 1
        most_at_once = max(most_at_once, at_once)
        calls.append(number)
        if number == 5:
            await asyncio.sleep(0.1)
        at_once -= 1

    # when 20 calls are offered at 200 a second
    steady = await steadily(200, 0.1, send)
    # then all 20 went, in order, never two at once, and the slow one made it late
    assert calls == list(range(20))
    assert most_at_once == 1
    assert steady.sent == 20
    assert steady.late >= 0.05
