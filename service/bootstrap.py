"""The composition root: settings, pool, broker and handlers are built here, once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from schemas.commands import COMMANDS
from schemas.consumed import CONSUMED
from service.adapters.auth import Authenticator, load_tokens
from service.adapters.db import Database, migrate
from service.adapters.kafka import KafkaDeadLetters, KafkaOutboxPublisher, ensure_topics
from service.adapters.policy_file import load_policy
from service.adapters.sealing import Sealer, SealingKeyError
from service.domain.policy import Policy
from service.entrypoints import http
from service.entrypoints.consumers import register_commands, register_projection
from service.entrypoints.publications import declare_publications
from service.service_layer.appeasements import Appeasements
from service.service_layer.claims import Claims
from service.service_layer.commands import CommandHandler
from service.service_layer.ingest import Projector
from service.service_layer.relay import OutboxRelay
from service.settings import Settings

log = structlog.get_logger(__name__)

VERSION = "0.1.0"


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

    @property
    def topics(self) -> list[str]:
        settings = self.settings
        return [
            *CONSUMED, *COMMANDS, settings.command_results_topic, settings.alerts_topic,
            settings.dead_letter_topic,
        ]

    async def start(self) -> None:
        settings = self.settings
        await self.database.connect()
        if settings.migrate_on_start:
            await migrate(self.database.pool)
        if settings.create_topics:
            assert settings.kafka_bootstrap_servers
            await ensure_topics(
                settings.kafka_bootstrap_servers, self.topics, settings.topic_partitions
            )
        await self.broker.start()
        await self.relay.start()
        log.info("service started", topics=self.topics)

    async def stop(self) -> None:
        await self.relay.stop()
        await self.broker.stop()
        await self.database.close()
        log.info("service stopped")

    async def broker_ready(self) -> bool:
        try:
            return await self.broker.ping(timeout=2.0)
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            return False


def build_service(settings: Settings) -> Service:
    if not settings.database_url or not settings.kafka_bootstrap_servers:
        raise ValueError("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set")
    policy = load_policy(settings.policy_file)
    authenticator = build_authenticator(settings)
    database = Database(settings.database_url)
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        logger=logging.getLogger("appeasement.broker"),
        log_level=logging.DEBUG,
        graceful_timeout=15.0,
    )
    projector = Projector(
        database,
        settings.projection_rules(),
        KafkaDeadLetters(broker, settings.dead_letter_topic),
        max_backoff=settings.db_retry_max_seconds,
        alerts_topic=settings.alerts_topic,
    )
    register_projection(
        broker,
        projector,
        group_id=settings.consumer_group,
        max_records=settings.consumer_batch_max_records,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
    )
    dead_letters = KafkaDeadLetters(broker, settings.dead_letter_topic)
    if not settings.bank_details_key:
        raise SealingKeyError(
            "BANK_DETAILS_KEY is not set: bank details are sealed at rest with it. Make one "
            "with `python -m service bank-key` and keep it in your secret store "
            "(`make run` makes one in RUN_DIR by itself)"
        )
    sealer = Sealer(settings.bank_details_key)
    appeasements = Appeasements(
        database, policy, service_name=settings.service_name, sealer=sealer,
        refund_unable=frozenset(settings.refund_unable_payment_methods),
    )
    register_commands(
        broker,
        CommandHandler(
            appeasements, dead_letters, settings.command_results_topic, sealer,
            max_backoff=settings.db_retry_max_seconds,
        ),
        group_id=settings.command_consumer_group,
    )
    declare_publications(
        broker, results_topic=settings.command_results_topic, alerts_topic=settings.alerts_topic,
        dead_letter_topic=settings.dead_letter_topic,
    )
    relay = OutboxRelay(
        database, KafkaOutboxPublisher(broker), opener=sealer,
        poll_seconds=settings.outbox_poll_seconds,
        max_backoff=settings.db_retry_max_seconds,
    )
    return Service(
        settings, database, broker, projector, appeasements, relay, authenticator,
        Claims(database, policy), policy,
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
    http.install(app)
    return app
