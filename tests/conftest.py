"""Session fixtures: one real database, one real broker, one running service for all tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition
from cryptography.fernet import Fernet
from fastapi import FastAPI

from service.bootstrap import create_app
from service.embedded import free_port
from service.logging import configure_logging
from service.settings import Settings
from tests.builders import encode, jsonrpc
from tests.infra import Infra, infrastructure

T = TypeVar("T")


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    with infrastructure(tmp_path_factory.mktemp("infra")) as running:
        yield running


TOKENS = {
    "agent-token": ("agent-42", "agent"),
    "lead-token": ("lead-7", "lead"),
    "lead2-token": ("lead-8", "lead"),
    "manager-token": ("manager-1", "manager"),
    "intern-token": ("intern-1", "intern"),
    "auditor-token": ("auditor-1", "auditor"),
    "lead-as-agent-token": ("lead-7", "agent"),
}
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"
BANK_KEY = Fernet.generate_key().decode()
MCOM_SECRET = "mcom-secret-registered-with-the-integration-bus"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def settings(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tokens = tmp_path_factory.mktemp("auth") / "tokens.toml"
    tokens.write_text("".join(
        f'[tokens."{token}"]\nuser = "{user}"\nrole = "{role}"\n'
        for token, (user, role) in TOKENS.items()
    ))
    return Settings(
        auth_tokens_file=tokens,
        bank_details_key=BANK_KEY,
        auth_jwt_key=JWT_SECRET,
        auth_jwt_audience="appeasement",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        consumer_group=f"test-projection-{uuid.uuid4().hex[:6]}",
        consumer_batch_timeout_ms=20,
        create_topics=True,
        topic_replication_factor=1,
        topic_min_insync_replicas=None,
        db_retry_max_seconds=0.5,
        taxation_by_store={"us-web": "net"},
        mcom_shared_secret=MCOM_SECRET,
        tracing="on",
        # tests share the service's event loop and block it at times; the lag bound has a
        # test of its own (test_http_problems)
        max_loop_lag_ms=60_000,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    configure_logging("INFO", "console")
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await asyncio.wait_for(application.state.service.joined(), timeout=60)
        yield application


@pytest.fixture(scope="session")
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://service", headers=bearer("manager-token")
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The same running service over real HTTP on a free port, for a browser or a CLI."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False,
    ))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


@pytest.fixture(scope="session")
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, acks="all")
    await kafka.start()
    yield kafka
    await kafka.stop()


Publish = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def publish(producer: AIOKafkaProducer, app: FastAPI) -> Publish:
    """Publish an MCOM JSON-RPC message on its method's topic, keyed by order id."""

    async def send(
        method: str, params: dict[str, Any], *, key: str, message_id: str | None = None
    ) -> dict[str, Any]:
        message = jsonrpc(method, params, message_id)
        await producer.send_and_wait(method, encode(message), key=key.encode())
        return message

    return send


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """Poll until `probe` returns something truthy; the consumer is asynchronous."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = await probe()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing satisfied the probe within {timeout} s")
        await asyncio.sleep(0.05)


async def records_of(
    bootstrap: str, topic: str, timeout: float
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of `topic` from the beginning of every partition, until `timeout` passes."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            yield [record for records in batches.values() for record in records]
    finally:
        await consumer.stop()


async def read_topic(
    bootstrap: str, topic: str, match: Callable[[ConsumerRecord], bool], timeout: float = 15.0
) -> ConsumerRecord:
    """The first record of `topic` (from the beginning) that `match` accepts."""
    async with aclosing(records_of(bootstrap, topic, timeout)) as batches:
        async for batch in batches:
            for record in batch:
                if match(record):
                    return record
    raise AssertionError(f"no matching record on {topic} within {timeout} s")


async def balance_when(
    api: httpx.AsyncClient, order_id: str, ready: Callable[[dict[str, Any]], bool] = bool
) -> dict[str, Any]:
    """The order's balance, once the projection shows what `ready` waits for."""

    async def probe() -> dict[str, Any] | None:
        response = await api.get(f"/v1/orders/{order_id}/balance")
        if response.status_code != 200:
            return None
        body = response.json()
        return body if ready(body) else None

    return await eventually(probe)


def line_of(balance: dict[str, Any], line_id: str) -> dict[str, Any]:
    return next(line for line in balance["lines"] if line["line_id"] == line_id)
