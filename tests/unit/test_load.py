"""Load shedding: an order's turns in memory, and the in-flight bound."""

from __future__ import annotations

import asyncio

import pytest

from service.service_layer.load import InFlight, OrderTurns, Overloaded


async def test_a_hot_order_waits_in_memory_and_sheds_past_its_limit():
    # given two decisions on order A, one deciding, one waiting its turn
    turns = OrderTurns(max_waiting=2)
    release = asyncio.Event()
    order: list[str] = []

    async def decide(name: str) -> None:
        async with turns.turn("A", "grant"):
            order.append(name)
            await release.wait()

    first, second = asyncio.create_task(decide("first")), asyncio.create_task(decide("second"))
    await asyncio.sleep(0)
    # when a third arrives for A, it is refused at once
    with pytest.raises(Overloaded) as refused:
        async with turns.turn("A", "grant"):
            pass
    assert refused.value.details["waiting"] == 2
    # and another order is not held up
    async with turns.turn("B", "grant"):
        pass
    # then A's decisions take their turns in the order they came, and A is free afterwards
    release.set()
    await asyncio.gather(first, second)
    assert order == ["first", "second"]
    async with turns.turn("A", "grant"):
        pass


def test_in_flight_refuses_above_its_limit_and_while_the_loop_runs_late():
    limiter = InFlight(limit=1, max_lag=0.2)
    with limiter.slot("grant"):
        assert isinstance(limiter.refusal("grant"), Overloaded)
    assert limiter.refusal("grant") is None
    limiter._recent.append(0.3)
    refused = limiter.refusal("grant")
    assert isinstance(refused, Overloaded) and refused.details["lag_ms"] == 300
