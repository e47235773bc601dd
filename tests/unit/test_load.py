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


def test_the_limit_shrinks_while_even_the_quickest_request_waits_and_grows_back_after():
    # given a limit of 12 that follows a 30 ms target, judged every half second
    limiter = InFlight(limit=12, target=0.030, floor=2, interval=0.5)
    start = limiter._window_started
    # when, for four half-seconds, even the quickest request takes 60 ms
    for n in range(1, 5):
        limiter.observe(0.080, start + n * 0.5 - 0.1)
        limiter.observe(0.060, start + n * 0.5)
    # then the limit was cut by a quarter each time, never below the floor
    assert limiter.limit == 3
    for n in range(5, 9):
        limiter.observe(0.100, start + n * 0.5)
    assert limiter.limit == 2
    # and once a half second has a request within the target, it grows by one at a time
    limiter.observe(0.200, start + 9 * 0.5 - 0.2)
    limiter.observe(0.010, start + 9 * 0.5)
    assert limiter.limit == 3
    for n in range(10, 30):
        limiter.observe(0.005, start + n * 0.5)
    assert limiter.limit == 12


def test_a_burst_of_slow_requests_within_an_interval_that_had_a_quick_one_lowers_nothing():
    limiter = InFlight(limit=12, target=0.030, interval=0.5)
    start = limiter._window_started
    limiter.observe(0.004, start + 0.1)
    for offset in (0.2, 0.3, 0.5):
        limiter.observe(0.400, start + offset)
    assert limiter.limit == 12


def test_without_a_target_the_limit_stays_where_it_was_set():
    limiter = InFlight(limit=12)
    start = limiter._window_started
    for n in range(1, 10):
        limiter.observe(5.0, start + n)
    assert limiter.limit == 12
