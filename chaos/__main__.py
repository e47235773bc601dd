"""`python -m chaos [--quick] [--orders N] [--seed S] [--keep]`; exit 0 only without violations."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import time
import traceback
import uuid

from chaos import faults, poison
from chaos.bus import Bus, Tail
from chaos.instance import ServiceProcess
from chaos.ledger import Ledger
from chaos.load import Load
from chaos.observed import SETTINGS, observe
from chaos.parts import TOKENS, Parts
from chaos.probe import Prober
from chaos.report import render, violations
from chaos.seed import plan_orders, publish_seed, wait_projected
from chaos.settle import service_events, settle
from chaos.verify import verify
from schemas.published import REFUND_UPDATED
from service.logging import configure_logging


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="one kill, one PostgreSQL stop, 60 orders: under 2 minutes")
    parser.add_argument("--orders", type=int, help="orders to seed (default 300, quick 60)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and service logs")
    return parser.parse_args()


def plan_of(stage: faults.Stage, quick: bool) -> list[tuple[str, object]]:
    if quick:
        return [
            ("kill -9 while snapshots are projected and grants were just answered",
             lambda: faults.kill_after_snapshots_and_grants(stage)),
            ("PostgreSQL stop -m immediate, then start", lambda: faults.bounce_postgres(stage, 3)),
            ("poison messages (no kill follows)", lambda: poison.poison(stage, poison.POISON_TOPICS)),
        ]
    return [
        ("poison messages on every consumed and command topic",
         lambda: poison.poison(stage, poison.POISON_TOPICS)),
        ("kill -9 during a projection batch", lambda: faults.kill_during_projection(stage)),
        ("kill -9 after grants committed, before their outbox rows went out",
         lambda: faults.kill_after_grants(stage)),
        ("broker frozen (SIGSTOP) 15 s, longer than the session timeout",
         lambda: faults.freeze_broker(stage, 15)),
        ("PostgreSQL stop -m immediate, 5 s down, start", lambda: faults.bounce_postgres(stage, 5)),
        ("a second instance joins, then kill -9", lambda: faults.second_instance(stage, 20)),
        ("kill -9 while poison amid a burst of snapshots is dead-lettered",
         lambda: poison.kill_amid_poison(stage)),
    ]


async def run(args: argparse.Namespace) -> int:
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    started = time.monotonic()
    quick = args.quick
    deadline = started + (150 if quick else 900)
    reserve = 45 if quick else 180  # for draining, settling and verifying

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", flush=True)

    configure_logging("WARNING", "console")
    parts = Parts(keep=args.keep)
    main = ServiceProcess(parts)
    bus: Bus | None = None
    tail = prober = None
    background: list[asyncio.Task[None]] = []
    try:
        say(f"{'quick' if quick else 'full'} run: starting PostgreSQL and the broker in {parts.work}")
        await parts.start()
        main.start()
        say(f"service started (pid {main.process.pid}, {main.url}); waiting for /healthz")
        say(f"  healthy after {await main.wait_healthy(120):.1f} s")
        bus = Bus(parts.bootstrap)
        await bus.start()
        tail = Tail(parts.bootstrap, SETTINGS.command_results_topic, REFUND_UPDATED,
                    SETTINGS.dead_letter_topic)
        tail.start()
        rng = random.Random(args.seed)
        plans = plan_orders(uuid.uuid4().hex[:6].upper(), args.orders or (60 if quick else 300), rng)
        sent = await publish_seed(bus, plans, rng, deadline)
        say(f"seeded {len(plans)} orders: {sent} records with duplicates, stale snapshots, refunds")
        late = await wait_projected(main.url, TOKENS["manager"], plans, 60)
        say(f"  projected ({late} orders not as seeded after 60 s)")
        ledger = Ledger()
        services = [main]
        load = Load(ledger, bus, plans, rng, lambda: [s.url for s in services], 45 if quick else 120)
        stage = faults.Stage(parts, bus, load, ledger, plans, rng, deadline - reserve, say, services,
                             tail)
        prober = Prober(main.url)
        stop = asyncio.Event()
        background = [asyncio.create_task(prober.run()),
                      asyncio.create_task(load.run(20 if quick else 30, stop, deadline - reserve))]
        say(f"load running: {20 if quick else 30} grants/s over HTTP and the command topic")
        skipped = 0
        for name, fault in plan_of(stage, quick):
            if time.monotonic() > deadline - reserve:
                skipped += 1
                continue
            say(f"fault: {name}")
            await fault()
            await asyncio.sleep(3 if quick else 6)
        stop.set()
        await background.pop()
        say(f"load stopped after {len(ledger.grants)} grants; waiting for those in flight")
        await load.drain(max(5.0, min(50.0, deadline - 25 - time.monotonic())))
        state = await settle(tail, ledger, max(10.0, min(90.0, deadline - 20 - time.monotonic())), say)
        say(f"settle: {state}")
        prober.stop.set()
        seen = await observe(parts.bootstrap, main.url, [p.order_id for p in plans],
                             [g.appeasement_id for g in ledger.grants if g.appeasement_id],
                             {g.key for g in ledger.grants if g.channel == "rpc"})
        say("verified from the topics and the HTTP API")
        verdict = verify(ledger, plans, seen, {k: at for k, (at, _) in tail.replies.items()})
        if state.startswith("NOT"):
            verdict.flag("did not settle", state)
        notes = [f"note: settle: {state}", f"note: over-credit alerts on our orders: {seen.alerts}",
                 f"note: balances still moving at the end: {seen.balances_moved}",
                 f"note: service log warnings and errors: {service_events(parts.work)}"]
        if skipped:
            notes.append(f"note: {skipped} faults skipped: the global deadline came first")
        title = (f"chaos {'--quick' if quick else 'full'} run: {len(plans)} orders, "
                 f"wall {time.monotonic() - started:.1f} s")
        print(render(verdict, ledger, title=title, longest_gap=prober.longest, notes=notes),
              flush=True)
        return 1 if violations(verdict) or skipped else 0
    except Exception:  # noqa: BLE001 - a broken run is reported, and everything is cleaned up
        traceback.print_exc()
        say(f"the run broke; service log events: {service_events(parts.work)}")
        return 2
    finally:
        if prober:
            prober.stop.set()
        for task in background:
            task.cancel()
        if tail:
            await tail.stop()
        if bus:
            await bus.stop()
        try:
            main.kill()
        finally:
            await asyncio.to_thread(parts.stop)
            say("cleaned up: service, PostgreSQL and the broker stopped" +
                (f"; kept {parts.work}" if args.keep else ", work dir removed"))


def main() -> int:
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        return asyncio.run(run(arguments()))
    return 130  # interrupted (Ctrl-C or SIGTERM), after cleaning up


if __name__ == "__main__":
    raise SystemExit(main())
