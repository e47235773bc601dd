"""Embedded PostgreSQL and broker, the service as its own process, and what the benchmarks
share: orders to publish, progress lines, percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from aiokafka import AIOKafkaProducer

from bench.load import Connections
from schemas.consumed import ORDER_CREATED
from schemas.examples import order, request
from service.adapters.sealing import new_key
from service.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from service.logging import configure_logging
from service.settings import Settings

#: The bench caller: a manager has no per-appeasement, per-order or per-customer limit.
TOKEN = "bench-token"
CALLER = {"Authorization": f"Bearer {TOKEN}"}


def say(text: str) -> None:
    """A progress line on stderr; the figures go to stdout and the JSON file."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@asynccontextmanager
async def embedded_parts() -> AsyncIterator[Settings]:
    configure_logging("WARNING", "console")
    with tempfile.TemporaryDirectory(prefix="appeasement-bench-") as work:
        postgres = EmbeddedPostgres(Path(work) / "pgdata", delete_on_stop=True)
        kafka = EmbeddedKafka(free_port(), Path(work) / "tansu.log")
        tokens = Path(work) / "tokens.toml"
        tokens.write_text(f'[tokens."{TOKEN}"]\nuser = "bench"\nrole = "manager"\n')
        try:
            settings = Settings(
                auth_tokens_file=tokens,
                bank_details_key=new_key(),
                database_url=postgres.start(),
                kafka_bootstrap_servers=kafka.start(),
                consumer_group=f"bench-{uuid.uuid4().hex[:6]}",
                command_consumer_group=f"bench-commands-{uuid.uuid4().hex[:6]}",
                create_topics=True,
                topic_replication_factor=1,
                topic_min_insync_replicas=None,
                log_level="WARNING",
                http_port=free_port(),
                run_dir=Path(work),
            )
            yield settings
        finally:
            kafka.stop()
            postgres.stop()


@dataclass
class ServiceProcess:
    """`python -m service serve` on the embedded parts: measured from outside, as deployed."""

    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def connections(self) -> Connections:
        """Keep-alive HTTP connections to the service, for a load generator."""
        host, port = self.url.removeprefix("http://").split(":")
        return Connections(host, int(port))

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        return psutil.Process(self.pid).memory_info().rss / 1_048_576

    async def metric(self, name: str) -> dict[str, float]:
        """Every sample of one metric family from /metrics, by its label set."""
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{self.url}/metrics")).text
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(name):
                labels, _, value = line.rpartition(" ")
                found[labels] = float(value)
        return found


def _environment(settings: Settings) -> dict[str, str]:
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "AUTH_TOKENS_FILE": str(settings.auth_tokens_file),
        "BANK_DETAILS_KEY": settings.bank_details_key or "",
        "CONSUMER_GROUP": settings.consumer_group,
        "COMMAND_CONSUMER_GROUP": settings.command_consumer_group,
        "CREATE_TOPICS": "true",
        "TOPIC_REPLICATION_FACTOR": "1",
        "HTTP_PORT": str(settings.http_port),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        "RUN_DIR": str(settings.run_dir),
    }
    environment.pop("TOPIC_MIN_INSYNC_REPLICAS", None)
    return environment


@asynccontextmanager
async def service_process(settings: Settings) -> AsyncIterator[ServiceProcess]:
    """Start the service, wait until every consumer group is joined, stop it afterwards."""
    log = open(Path(settings.run_dir) / "service.log", "wb")  # noqa: SIM115 - closed below
    command = [sys.executable, "-m", "service", "serve"]
    profiler = os.environ.get("BENCH_PYSPY")
    if profiler:
        # collapsed stacks of the whole run, for `python -m bench.profile FILE`
        out = Path(os.environ.get("BENCH_PROFILE_DIR", ".run")).resolve()
        out.mkdir(parents=True, exist_ok=True)
        command = [profiler, "record", "--format", "raw", "--rate", "200", "--subprocesses", "--nonblocking",
                   "-o", str(out / f"profile-{int(time.time())}.txt"), "--", *command]
    process = subprocess.Popen(
        command, env=_environment(settings),
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{settings.http_port}"
    try:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None:
                    raise RuntimeError("the service exited: "
                                       + (Path(settings.run_dir) / "service.log").read_text()[-2000:])
                try:
                    if (await client.get(f"{url}/readyz", timeout=2)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the service was not ready within 180 s")
                await asyncio.sleep(0.2)
        yield ServiceProcess(process, url)
    finally:
        process.send_signal(signal.SIGINT if profiler else signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def bench_order(order_id: str) -> dict[str, Any]:
    """The example order (a 499.00 table, two candles, shipping), with its own customer."""
    document = order(order_id)
    document["customer"] = {**document["customer"], "id": f"C-{order_id}"}
    return document


def order_message(order_id: str, message_id: str) -> bytes:
    return json.dumps(request(ORDER_CREATED, {"order": bench_order(order_id)}, message_id)).encode()


async def publish(
    bootstrap: str, topic: str, messages: Iterable[tuple[str, bytes]], *, label: str = ""
) -> int:
    """Publish (key, value) pairs as fast as the broker takes them; returns how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=262_144)
    await producer.start()
    sent = 0
    try:
        pending = []
        for key, value in messages:
            pending.append(await producer.send(topic, value, key=key.encode()))
            sent += 1
            if len(pending) >= 2_000:
                await asyncio.gather(*pending)
                pending.clear()
                if label:
                    say(f"{label}: {sent} published")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def wait_for_orders(database_url: str, prefix: str, count: int, timeout: float = 300) -> None:
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while await connection.fetchval(
            "SELECT count(*) FROM orders WHERE known AND order_id LIKE $1", f"{prefix}%"
        ) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} orders {prefix}* not projected within {timeout} s")
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


def percentiles(samples: list[float]) -> dict[str, float | int]:
    """p50 / p95 / p99 / max in milliseconds (samples in seconds)."""
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)
    if len(ordered) == 1:
        ordered = ordered * 2
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "count": len(samples),
        "p50": round(cuts[49] * 1000, 1),
        "p95": round(cuts[94] * 1000, 1),
        "p99": round(cuts[98] * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }
