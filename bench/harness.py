"""Embedded PostgreSQL and broker plus the running service, for benchmarks."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from service.adapters.sealing import new_key
from service.bootstrap import Service, build_service
from service.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from service.logging import configure_logging
from service.settings import Settings


@asynccontextmanager
async def embedded_parts() -> AsyncIterator[Settings]:
    configure_logging("WARNING", "console")
    with tempfile.TemporaryDirectory(prefix="appeasement-bench-") as work:
        postgres = EmbeddedPostgres(Path(work) / "pgdata", delete_on_stop=True)
        kafka = EmbeddedKafka(free_port(), Path(work) / "tansu.log")
        tokens = Path(work) / "tokens.toml"
        tokens.write_text('[tokens."bench-token"]\nuser = "bench"\nrole = "agent"\n')
        try:
            settings = Settings(
                auth_tokens_file=tokens,
                bank_details_key=new_key(),
                database_url=postgres.start(),
                kafka_bootstrap_servers=kafka.start(),
                consumer_group=f"bench-{uuid.uuid4().hex[:6]}",
                create_topics=True,
                topic_replication_factor=1,
                topic_min_insync_replicas=None,
                log_level="WARNING",
            )
            yield settings
        finally:
            kafka.stop()
            postgres.stop()


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Service]:
    service = build_service(settings)
    await service.start()
    await service.joined()
    try:
        yield service
    finally:
        await service.stop()
