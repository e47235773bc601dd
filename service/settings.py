"""Settings from the environment (documented in README.md, "Settings")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.adapters.auth import AuthConfigError, JwtRules
from service.adapters.kafka import KafkaSecurity
from service.adapters.shared_secret import SharedSecret
from service.domain.projection import ProjectionRules

#: The shortest MCOM shared secret the service accepts.
MCOM_SECRET_MIN_LENGTH = 16


class Settings(BaseSettings):
    #: Every setting can also come from a file named after it in SECRETS_DIR (e.g.
    #: /run/secrets/bank_details_key), the way Docker and Kubernetes mount secrets.
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", case_sensitive=False,
        secrets_dir=os.environ.get("SECRETS_DIR") or None,
    )

    database_url: str | None = Field(None, description="PostgreSQL DSN; unset = embedded")
    kafka_bootstrap_servers: str | None = Field(None, description="Kafka brokers; unset = embedded")

    service_name: str = "appeasement-service"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    log_level: str = "INFO"
    log_format: str = Field("auto", description="json, console, or auto (console on a TTY)")

    run_dir: Path = Field(Path(".run"), description="Embedded PostgreSQL data and broker logs")
    embedded_kafka_port: int = 9092

    consumer_group: str = "appeasement-projection"
    consumer_batch_max_records: int = 1000
    consumer_batch_timeout_ms: int = 100
    consumer_fetch_max_wait_ms: int = Field(
        100, ge=1, le=30_000,
        description="Longest a fetch waits at the broker for records (Kafka's fetch.max.wait.ms)",
    )
    projection_lanes: int = Field(
        3, ge=1, le=8, description="Transactions side by side per chunk of the projection"
    )
    topic_partitions: int = 3
    topic_replication_factor: int = Field(3, ge=1, description="Of the topics the service creates")
    topic_min_insync_replicas: int | None = Field(
        2, ge=1, description="min.insync.replicas of the topics the service creates"
    )
    create_topics: bool = Field(
        False, description="Create missing topics at start (`make run` turns it on)"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers")
    kafka_ssl_certfile: Path | None = Field(None, description="Client certificate (mTLS)")
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    migrate_on_start: bool = True
    dead_letter_topic: str = "appeasement.dead_letter"
    db_retry_max_seconds: float = 30.0

    policy_file: Path = Field(
        Path(__file__).resolve().parent.parent / "policy.toml",
        description="Reasons, roles and limits (TOML)",
    )
    auth_tokens_file: Path | None = Field(
        None, description="Tokens file (token -> user, role); `make run` makes one in RUN_DIR"
    )
    auth_jwt_key: str | None = Field(None, description="HS256 secret or RS256/ES256 public key")
    auth_jwt_key_file: Path | None = Field(None, description="The JWT key, read from a file")
    auth_jwt_algorithms: list[str] = ["HS256"]
    auth_jwt_role_claim: str = "role"
    auth_jwt_audience: str | None = None
    auth_jwt_issuer: str | None = None
    auth_jwt_jwks_url: str | None = Field(
        None, description="JWKS URL whose keys verify JWTs (by `kid`), instead of AUTH_JWT_KEY"
    )
    auth_jwt_jwks_cache_seconds: float = Field(
        300.0, gt=0, description="How long the fetched key set is kept before it is fetched again"
    )

    bank_details_key: str | None = Field(
        None, description="Fernet key sealing bank details at rest, or several separated by "
        "commas (the first seals, all open); `make run` makes one",
    )
    refund_unable_payment_methods: list[str] = Field(
        ["cod"], description="Payment methods that cannot refund: bank transfer needed"
    )

    command_consumer_group: str = "appeasement-commands"
    command_results_topic: str = "appeasement.command_results"
    alerts_topic: str = "appeasement.alerts"
    outbox_poll_seconds: float = 1.0
    max_grants_in_flight: int = Field(
        12, ge=1, description="HTTP grants and previews in flight at once; above: 503 "
        "OVERLOADED. Below DATABASE_POOL_SIZE, so that the pool has a connection for every "
        "grant let in and some left for the relay and the consumers",
    )
    grant_latency_target_ms: int = Field(
        30, ge=0, description="While even the quickest HTTP grant or preview of half a second "
        "takes longer, fewer are let in at once (down to 2, back up to MAX_GRANTS_IN_FLIGHT "
        "by one each half second); 0 keeps MAX_GRANTS_IN_FLIGHT fixed",
    )
    max_loop_lag_ms: int = Field(
        500, ge=10, description="HTTP grants and previews are refused (503 OVERLOADED) while "
        "the event loop runs this late",
    )
    max_grants_waiting_per_order: int = Field(
        8, ge=1, description="HTTP grants waiting for one order's turn; above: 503 OVERLOADED"
    )
    database_pool_size: int = Field(
        16, ge=2, description="PostgreSQL connections per instance, opened at start, kept open"
    )
    command_concurrency: int = Field(
        4, ge=1, description="Orders whose commands are decided side by side per instance"
    )
    max_message_bytes: int = Field(
        1_000_000, ge=10_000,
        description="The largest message the service builds: below the broker's "
        "message.max.bytes (1 MiB by default) with room for key and headers",
    )
    bulk_poll_seconds: float = Field(
        1.0, gt=0, description="How often the bulk runner looks for running bulk appeasements "
        "started on another instance (it is woken at once on its own)"
    )
    outbox_quarantine_after: int = Field(
        8, ge=1, description="Failed attempts of one message before it is quarantined"
    )
    outbox_retention_hours: float = Field(
        168.0, ge=0, description="Published outbox messages are deleted this long after "
        "their publication (dead letters and messages an operator acted on are kept); 0 "
        "keeps every message",
    )
    outbox_purge_seconds: float = Field(
        600.0, gt=0, description="How often each instance deletes the published messages "
        "past OUTBOX_RETENTION_HOURS",
    )

    mcom_path: str = Field(
        "/mcom", pattern=r"^/[A-Za-z0-9/_.~-]*$",
        description="Where MCOM's integration bus delivers JSON-RPC 2.0 over HTTP",
    )
    mcom_shared_secret: SecretStr | None = Field(
        None, description="The secret registered with MCOM for this service's URL; unset = "
        "the MCOM route answers 404",
    )
    mcom_auth_header: str = Field(
        "Authorization", pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
        description="The header MCOM sends the secret in",
    )
    mcom_auth_scheme: str = Field(
        "Bearer", pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]*$",
        description="`<scheme> <secret>` in that header; empty: the header holds the secret alone",
    )
    tracing: Literal["auto", "on", "off"] = Field(
        "auto", description="Record spans: `auto` when an OTLP endpoint is set (spans that go "
        "nowhere cost a grant about a fifth of its CPU), `on` always, `off` never",
    )
    otel_sdk_disabled: bool = Field(
        False, description="No traces at all (OpenTelemetry's own switch)"
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector (e.g. http://otel-collector:4318): traces are "
        "exported there; unset: traces stay in the process (ids in logs and on messages)",
    )
    otel_service_name: str | None = Field(
        None, description="service.name of the traces; unset: SERVICE_NAME"
    )

    def records_spans(self) -> bool:
        if self.otel_sdk_disabled or self.tracing == "off":
            return False
        return self.tracing == "on" or bool(self.otel_exporter_otlp_endpoint)

    captured_statuses: list[str] = ["CAPTURED", "PAID", "SETTLED", "INVOICED"]
    bucket_by_product_type: dict[str, str] = {
        "SHIPPING": "shipping",
        "HANDLING": "handling",
        "FEE": "fee",
    }
    default_taxation: str = Field("gross", pattern="^(gross|net)$")
    taxation_by_store: dict[str, str] = {}

    def jwt_rules(self) -> JwtRules | None:
        key = self.auth_jwt_key
        if key is None and self.auth_jwt_key_file is not None:
            key = self.auth_jwt_key_file.read_text()
        if key and self.auth_jwt_jwks_url:
            raise AuthConfigError(
                "set AUTH_JWT_KEY (or AUTH_JWT_KEY_FILE) or AUTH_JWT_JWKS_URL, not both"
            )
        if not key and not self.auth_jwt_jwks_url:
            return None
        return JwtRules(
            key=key or "", algorithms=tuple(self.auth_jwt_algorithms),
            role_claim=self.auth_jwt_role_claim, audience=self.auth_jwt_audience,
            issuer=self.auth_jwt_issuer, jwks_url=self.auth_jwt_jwks_url,
            jwks_cache_seconds=self.auth_jwt_jwks_cache_seconds,
        )

    @model_validator(mode="after")
    def sasl_is_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        return self

    @model_validator(mode="after")
    def mcom_secret_is_long_enough(self) -> Settings:
        secret = self.mcom_shared_secret
        if secret is not None and not secret.get_secret_value().strip():
            self.mcom_shared_secret = None  # empty is unset: the route stays closed
        elif secret is not None and len(secret.get_secret_value()) < MCOM_SECRET_MIN_LENGTH:
            raise ValueError(
                f"MCOM_SHARED_SECRET must be at least {MCOM_SECRET_MIN_LENGTH} characters "
                "(`openssl rand -hex 32` makes one)"
            )
        return self

    def mcom_secret(self) -> SharedSecret | None:
        """How an MCOM delivery proves it comes from MCOM; None: the ingress is closed."""
        if self.mcom_shared_secret is None:
            return None
        return SharedSecret(
            header=self.mcom_auth_header, scheme=self.mcom_auth_scheme,
            secret=self.mcom_shared_secret.get_secret_value(),
        )

    def kafka_security(self) -> KafkaSecurity:
        def text(value: Path | None) -> str | None:
            return None if value is None else str(value)

        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value()
            if self.kafka_sasl_password else None,
            cafile=text(self.kafka_ssl_cafile), certfile=text(self.kafka_ssl_certfile),
            keyfile=text(self.kafka_ssl_keyfile),
            key_password=self.kafka_ssl_key_password.get_secret_value()
            if self.kafka_ssl_key_password else None,
        )

    def projection_rules(self) -> ProjectionRules:
        return ProjectionRules(
            service_name=self.service_name,
            captured_statuses=frozenset(s.upper() for s in self.captured_statuses),
            bucket_by_product_type={k.upper(): v for k, v in self.bucket_by_product_type.items()},
            default_taxation=self.default_taxation,
            taxation_by_store=dict(self.taxation_by_store),
        )
