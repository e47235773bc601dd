"""The composition root: settings, pool, broker and handlers are built here, once."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider

from schemas.commands import COMMANDS
from schemas.consumed import CONSUMED
from service import background, telemetry
from service.adapters import decision_repo
from service.adapters.auth import Authenticator, load_tokens
from service.adapters.db import Database, migrate
from service.adapters.kafka import KafkaOutboxPublisher, ensure_topics
from service.adapters.policy_file import load_policy
from service.adapters.sealing import Sealer, SealingKeyError
from service.adapters.shared_secret import SharedSecret
from service.domain.policy import Policy
from service.entrypoints import http
from service.entrypoints.consumers import ConsumerGroup, register_commands, register_projection
from service.entrypoints.publications import declare_publications
from service.retry import Backoff
from service.service_layer import gauges
from service.service_layer.appeasements import Appeasements
from service.service_layer.bulk import Bulks
from service.service_layer.bulk_runner import BulkRunner
from service.service_layer.claims import Claims
from service.service_layer.commands import CommandHandler
from service.service_layer.history import History
from service.service_layer.ingest import Projector
from service.service_layer.mcom_ingress import McomIngress
from service.service_layer.outbox_retention import OutboxRetention
from service.service_layer.outcomes import Outcomes
from service.service_layer.refund_events import RefundEvents
from service.service_layer.refusals import Refusals
from service.service_layer.relay import OutboxRelay
from service.service_layer.reports import Reports
from service.settings import Settings

log = structlog.get_logger(__name__)

#: A Kafka start-up step (topics, producer) that takes longer is retried, and said so.
KAFKA_STEP_SECONDS = 30.0

try:  # the one version is pyproject.toml's, as installed
    VERSION = importlib.metadata.version("appeasement-service")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    VERSION = "0.0.0+unknown"


@dataclass
class Service:
    settings: Settings
    database: Database
    broker: KafkaBroker
    projector: Projector
    appeasements: Appeasements
    relay: OutboxRelay
    authenticator: Authenticator
    claims: Claims
    policy: Policy
    history: History
    bulks: Bulks
    bulk_runner: BulkRunner
    reports: Reports
    retention: OutboxRetention
    consumers: dict[str, ConsumerGroup] = field(default_factory=dict)
    mcom: McomIngress | None = None
    mcom_secret: SharedSecret | None = None
    tracer_provider: TracerProvider | None = None
    _kafka: asyncio.Task[None] | None = None
    _load: asyncio.Task[None] | None = None

    @property
    def topics(self) -> list[str]:
        settings = self.settings
        return [
            *CONSUMED, *COMMANDS, settings.command_results_topic, settings.alerts_topic,
            settings.dead_letter_topic,
        ]

    async def start(self) -> None:
        """Serve as soon as the database is reachable: grants need nothing else. Kafka
        (topics, producer, outbox relay, consumer groups) comes up in the background."""
        await self.database.connect()
        if self.settings.migrate_on_start:
            await migrate(self.database.pool)
            await self.database.prepare_all()
        await self.bulk_runner.start()
        await self.retention.start()
        self._load = asyncio.create_task(self.appeasements.watch_load(), name="load-watch")
        self._kafka = asyncio.create_task(self._start_kafka(), name="kafka-start")
        log.info("service serving; joining Kafka in the background")

    async def _start_kafka(self) -> None:
        settings = self.settings
        backoff = Backoff(first=0.2, cap=5.0)
        while True:
            try:
                if settings.create_topics and settings.kafka_bootstrap_servers:
                    await asyncio.wait_for(ensure_topics(
                        settings.kafka_bootstrap_servers, self.topics, settings.topic_partitions,
                        replication_factor=settings.topic_replication_factor,
                        min_insync_replicas=settings.topic_min_insync_replicas,
                        security=settings.kafka_security(),
                    ), KAFKA_STEP_SECONDS)
                await asyncio.wait_for(self.broker.connect(), KAFKA_STEP_SECONDS)
                break
            except Exception as error:  # noqa: BLE001 - the broker may come later: retry
                delay = backoff.delay()
                log.warning("Kafka unavailable, retrying", error=repr(error), retry_in=delay)
                await asyncio.sleep(delay)
        log.info("Kafka producer connected; joining the consumer groups")
        await self.relay.start()
        await asyncio.gather(*(self.consumers[name].join() for name in self.consumers))
        self.broker.running = True
        log.info("service started", topics=self.topics)

    async def joined(self) -> None:
        """Wait until Kafka is up and every consumer group is joined."""
        if self._kafka is not None:
            await asyncio.shield(self._kafka)

    async def stop(self) -> None:
        await background.cancel(self._load)
        await background.cancel(self._kafka)
        await self.bulk_runner.stop()
        await self.retention.stop()
        await self.relay.stop()
        await self.broker.stop()
        await self.database.close()
        telemetry.shutdown(self.tracer_provider)
        log.info("service stopped")

    async def readiness(self) -> dict[str, Any]:
        """Whether the service can do all of its work: database, broker, every consumer."""
        database, broker = await asyncio.gather(self.database.ping(), self._broker_ready())
        consumers = {name: await consumer.state() for name, consumer in self.consumers.items()}
        ready = database and broker and all(c["joined"] for c in consumers.values())
        return {
            "status": "ready" if ready else "not ready",
            "database": "ok" if database else "down",
            "broker": "ok" if broker else "down",
            "consumers": consumers,
        }

    async def observe(self) -> None:
        """Refresh the gauges a scrape reads: consumer lag, the outbox's backlog."""
        await gauges.refresh(self.database, self.consumers)

    async def _broker_ready(self) -> bool:
        try:
            return await self.broker.ping(timeout=2.0)
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            return False


def build_service(settings: Settings) -> Service:
    if not settings.database_url or not settings.kafka_bootstrap_servers:
        raise ValueError("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set")
    policy = load_policy(settings.policy_file)
    authenticator = build_authenticator(settings)
    # every connection opened at start and ready for decisions: the first grants after a
    # start or a quiet spell wait neither for PostgreSQL to start a backend nor for their
    # statements to be prepared and their row types looked up
    database = Database(settings.database_url, max_size=settings.database_pool_size,
                        min_size=settings.database_pool_size,
                        prepare=decision_repo.prepare_connection)
    tracer_provider = telemetry.configure_tracing(settings, VERSION)
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        security=settings.kafka_security().for_faststream(),
        client_id=settings.service_name,
        acks="all",
        logger=logging.getLogger("appeasement.broker"),
        log_level=logging.DEBUG,
        graceful_timeout=15.0,
        middlewares=telemetry.broker_middlewares(tracer_provider, settings.service_name),
    )
    projector = Projector(
        database,
        settings.projection_rules(),
        dead_letter_topic=settings.dead_letter_topic,
        max_backoff=settings.db_retry_max_seconds,
        alerts_topic=settings.alerts_topic,
        lanes=settings.projection_lanes,
    )
    projection = register_projection(
        broker,
        projector,
        group_id=settings.consumer_group,
        max_records=settings.consumer_batch_max_records,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
    )
    if not settings.bank_details_key:
        raise SealingKeyError(
            "BANK_DETAILS_KEY is not set: bank details are sealed at rest with it. Make one "
            "with `python -m service bank-key` and keep it in your secret store "
            "(`make run` makes one in RUN_DIR by itself)"
        )
    sealer = Sealer(settings.bank_details_key)
    events = RefundEvents(
        sealer, service_name=settings.service_name, max_message_bytes=settings.max_message_bytes
    )
    appeasements = Appeasements(
        database, policy, events,
        refund_unable=frozenset(settings.refund_unable_payment_methods),
        max_in_flight=settings.max_grants_in_flight,
        max_loop_lag=settings.max_loop_lag_ms / 1000,
        latency_target=settings.grant_latency_target_ms / 1000 or None,
        max_waiting_per_order=settings.max_grants_waiting_per_order,
    )
    command_handler = CommandHandler(
        appeasements, Outcomes(database, events), Refusals(database), database,
        settings.dead_letter_topic,
        settings.command_results_topic, sealer,
        max_backoff=settings.db_retry_max_seconds,
    )
    commands = register_commands(
        broker, command_handler, group_id=settings.command_consumer_group,
        concurrency=settings.command_concurrency,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
    )
    declare_publications(
        broker, results_topic=settings.command_results_topic, alerts_topic=settings.alerts_topic,
        dead_letter_topic=settings.dead_letter_topic,
    )
    relay = OutboxRelay(
        database, KafkaOutboxPublisher(broker, settings.service_name), opener=sealer,
        poll_seconds=settings.outbox_poll_seconds,
        max_backoff=settings.db_retry_max_seconds,
        quarantine_after=settings.outbox_quarantine_after, alerts_topic=settings.alerts_topic,
    )
    bulk_runner = BulkRunner(
        database, appeasements, poll_seconds=settings.bulk_poll_seconds,
        max_backoff=settings.db_retry_max_seconds,
    )
    return Service(
        settings, database, broker, projector, appeasements, relay, authenticator,
        Claims(database, policy), policy, History(database),
        Bulks(database, appeasements, policy, bulk_runner), bulk_runner, Reports(database),
        OutboxRetention(
            database, keep=timedelta(hours=settings.outbox_retention_hours),
            dead_letter_topic=settings.dead_letter_topic, every=settings.outbox_purge_seconds,
        ),
        {"oms-events": projection, "commands": commands},
        mcom=McomIngress(projector, command_handler, source=settings.mcom_path),
        mcom_secret=settings.mcom_secret(),
        tracer_provider=tracer_provider,
    )


def build_authenticator(settings: Settings) -> Authenticator:
    tokens = load_tokens(settings.auth_tokens_file) if settings.auth_tokens_file else {}
    return Authenticator(tokens, settings.jwt_rules())


def create_app(settings: Settings) -> FastAPI:
    service = build_service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="Appeasement service",
        version=VERSION,
        description="Goodwill refunds on MCOM orders: creditable balance, appeasements, refunds.",
        lifespan=lifespan,
    )
    app.state.service = service
    http.install(app, settings)
    telemetry.instrument_app(app, service.tracer_provider)
    return app
