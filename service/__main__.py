"""The command line: `python -m service run | serve | migrate | demo | contracts | policy |
token | tokens | bank-key | outbox | dead-letters | projection | bulk`."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
import uuid
from pathlib import Path

import httpx
import typer
import uvicorn
from pydantic import SecretStr

from service.adapters.policy_file import PolicyFileError, load_policy
from service.bulk_cli import bulk
from service.domain.policy import Policy
from service.logging import configure_logging
from service.operations.dead_letters import dead_letters
from service.operations.keys import bank_key, tokens
from service.operations.outbox import outbox
from service.operations.projection import projection
from service.settings import Settings

cli = typer.Typer(
    add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False
)
cli.add_typer(outbox, name="outbox")
cli.add_typer(bank_key, name="bank-key")
cli.add_typer(tokens, name="tokens")
cli.add_typer(dead_letters, name="dead-letters")
cli.add_typer(projection, name="projection")
cli.add_typer(bulk, name="bulk")


@cli.command()
def run() -> None:
    """Start everything: embedded PostgreSQL and broker (unless configured), then the service."""
    from service.embedded import EmbeddedKafka, EmbeddedPostgres

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    _check_policy(settings.policy_file)
    demo_tokens = _embedded_tokens(settings)
    if not settings.bank_details_key:
        from service.adapters.sealing import key_file

        settings.bank_details_key = key_file(settings.run_dir / "bank_details.key")
    if settings.mcom_shared_secret is None:
        settings.mcom_shared_secret = SecretStr(_secret_file(settings.run_dir / "mcom_shared_secret"))
    postgres = kafka = None
    try:
        if not settings.database_url:
            postgres = EmbeddedPostgres(settings.run_dir / "pgdata")
            settings.database_url = postgres.start()
        if not settings.kafka_bootstrap_servers:
            kafka = EmbeddedKafka(settings.embedded_kafka_port, settings.run_dir / "tansu.log")
            settings.kafka_bootstrap_servers = kafka.start()
            settings.create_topics = True
            settings.topic_replication_factor = 1
            settings.topic_min_insync_replicas = None
        _print_banner(settings, embedded_db=postgres is not None, embedded_kafka=kafka is not None)
        _print_tokens(settings, demo_tokens)
        _serve(settings)
    finally:
        if kafka:
            kafka.stop()
        if postgres:
            postgres.stop()


@cli.command()
def serve() -> None:
    """Start the service against DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS (no embedded parts)."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    _check_policy(settings.policy_file)
    _serve(settings)


@cli.command()
def policy(path: Path = typer.Argument(None, help="Default: POLICY_FILE")) -> None:
    """Validate a policy file and list its reasons and roles."""
    loaded = _check_policy(path or Settings().policy_file)
    for reason in loaded.reasons.values():
        limits = ", ".join(
            f"{name} {value}" for name, value in (
                ("max", reason.max_amount), ("max %", reason.max_percent_of_order)
            ) if value is not None
        )
        typer.echo(f"reason {reason.code}: {', '.join(sorted(reason.buckets))}"
                   f"{'; ' + limits if limits else ''}")
    for role in loaded.roles.values():
        may = [action for action, roles in loaded.access.items() if role.name in roles]
        typer.echo(f"role {role.name}: per appeasement {_limit(role.max_per_appeasement)}, "
                   f"per order {_limit(role.max_per_order)}, per customer "
                   f"{_limit(role.max_per_customer)}, above limit {role.above_limit}; "
                   f"may {', '.join(may) or 'nothing'}")


def _limit(value: object) -> str:
    return "-" if value is None else str(value)


@cli.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL."""
    from service.adapters.db import Database
    from service.adapters.db import migrate as apply

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        database = Database(_required(settings.database_url, "DATABASE_URL"))
        await database.connect()
        try:
            applied = await apply(database.pool)
            typer.echo(f"applied: {', '.join(applied) or 'nothing, up to date'}")
        finally:
            await database.close()

    asyncio.run(main())


@cli.command()
def demo(
    order_id: str = typer.Option(None, help="Order id; a fresh one by default"),
    bootstrap: str = typer.Option("127.0.0.1:9092", envvar="KAFKA_BOOTSTRAP_SERVERS"),
    api: str = typer.Option("http://127.0.0.1:8080", envvar="APPEASEMENT_API"),
    token: str = typer.Option(None, help="Bearer token; default: the agent's of the tokens file"),
) -> None:
    """Publish an MCOM order_management.created message and show the balance it produces."""
    from aiokafka import AIOKafkaProducer

    from schemas.consumed import ORDER_CREATED
    from schemas.examples import order, request
    from service.adapters.auth import is_hashed, load_tokens

    order_id = order_id or f"DEMO-{uuid.uuid4().hex[:8].upper()}"
    if token is None:
        settings = Settings()
        path = settings.auth_tokens_file or settings.run_dir / "tokens.toml"
        known = {t: who for t, who in (load_tokens(path) if path.exists() else {}).items()
                 if not is_hashed(t)}
        token = next((t for t, who in known.items() if who.role == "agent"), next(iter(known), ""))
    authorization = {"Authorization": f"Bearer {token}"}
    message = request(ORDER_CREATED, {"order": order(order_id)}, str(uuid.uuid4()))

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                ORDER_CREATED, json.dumps(message).encode(), key=order_id.encode()
            )
        finally:
            await producer.stop()

    asyncio.run(publish())
    typer.echo(f"published {ORDER_CREATED} for order {order_id} to {bootstrap}")
    url = f"{api}/v1/orders/{order_id}/balance"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5, headers=authorization)
        except httpx.TransportError:
            time.sleep(0.5)
            continue
        if response.status_code == 401:
            typer.echo(f"the API refused the token: {response.json().get('detail')}; "
                       "pass --token", err=True)
            raise typer.Exit(1)
        if response.status_code == 200:
            typer.echo(f"curl -H 'Authorization: Bearer {token}' {url}")
            typer.echo(json.dumps(response.json()["totals"], indent=2))
            appeasements = f"{api}/v1/orders/{order_id}/appeasements"
            body = '{"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}}'
            headers = f"-H 'Content-Type: application/json' -H 'Authorization: Bearer {token}'"
            typer.echo("\nPreview, then grant the shipping back for a late parcel:")
            typer.echo(f"curl -s {headers} -d '{body}' {appeasements}/preview")
            typer.echo(f"curl -s {headers} -H 'Idempotency-Key: {uuid.uuid4()}' -d '{body}' "
                       f"{appeasements}")
            return
        time.sleep(0.2)
    typer.echo(f"the balance did not appear at {url} within 15 s", err=True)
    raise typer.Exit(1)


@cli.command()
def contracts(check: bool = typer.Option(False, help="Fail when contracts/ drifted")) -> None:
    """Regenerate contracts/ from schemas/ (or check it is up to date)."""
    from service import contracts as generated

    if check:
        drifted = generated.drift()
        if drifted:
            typer.echo("contracts/ drifted; run `make contracts`:\n  " + "\n  ".join(drifted))
            raise typer.Exit(1)
        typer.echo("contracts/ is up to date")
        return
    for name in generated.write():
        typer.echo(f"wrote contracts/{name}")


def _serve(settings: Settings) -> None:
    from service.adapters.auth import AuthConfigError
    from service.adapters.sealing import SealingKeyError
    from service.bootstrap import create_app

    try:
        app = create_app(settings)
    except (AuthConfigError, SealingKeyError) as error:
        typer.echo(f"the service cannot start: {error}", err=True)
        raise typer.Exit(2) from None
    from service.entrypoints.http_protocol import ProblemHttpToolsProtocol

    # What is loaded by now (modules, models, the app) lives as long as the process: kept
    # out of the collector's passes, which would otherwise walk it again and again. What a
    # request or a batch allocates is freed by reference counting; the collector, there for
    # cycles, runs every 50,000 net allocations instead of 700 (a batch of snapshots makes
    # hundreds of thousands): 20-30 % less CPU per projected event.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)

    config = uvicorn.Config(
        app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False,
        http=ProblemHttpToolsProtocol, loop="uvloop",
    )
    uvicorn.Server(config).run()


def _print_banner(settings: Settings, *, embedded_db: bool, embedded_kafka: bool) -> None:
    base = f"http://{settings.http_host}:{settings.http_port}"
    data = Path(settings.run_dir) / "pgdata"
    database_note = f"  (embedded, data in {data})" if embedded_db else ""
    kafka_note = "  (embedded tansu, memory storage)" if embedded_kafka else ""
    lines = [
        "",
        "Appeasement service",
        f"  HTTP API     {base}   (docs {base}/docs, AsyncAPI {base}/asyncapi)",
        f"  Back office  {base}/backoffice/   (sign in with a token below)",
        f"  PostgreSQL   {settings.database_url}{database_note}",
        f"  Kafka        {settings.kafka_bootstrap_servers}{kafka_note}",
        f"  MCOM ingress POST {base}{settings.mcom_path}   ({settings.mcom_auth_header}: "
        f"{settings.mcom_auth_scheme + ' ' if settings.mcom_auth_scheme else ''}<secret>; "
        f"MCOM_SHARED_SECRET, else {Path(settings.run_dir) / 'mcom_shared_secret'})",
        "  Try          make demo",
        "  Stop         Ctrl-C",
        "",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)


@cli.command()
def token(
    user: str = typer.Option(..., help="Who the token stands for"),
    role: str = typer.Option(..., help="A role of the policy file"),
    file: Path = typer.Option(None, help="Default: AUTH_TOKENS_FILE, else RUN_DIR/tokens.toml"),
) -> None:
    """Add a bearer token for USER with ROLE to the tokens file (its hash only); print it once."""
    from service.adapters.auth import add_token

    settings = Settings()
    path = file or settings.auth_tokens_file or settings.run_dir / "tokens.toml"
    typer.echo(add_token(path, user, role))
    typer.echo(f"{path} keeps only its hash: keep the token now, it is not shown again",
               err=True)


def _secret_file(path: Path) -> str:
    """A random secret kept in `path`, made on first use (readable by its owner only)."""
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _embedded_tokens(settings: Settings) -> dict[str, str]:
    """Without a tokens file or JWT key, `run` keeps demo tokens in RUN_DIR/tokens.toml, as
    plaintext entries so that it can print them at every start (`tokens hash` hashes them)."""
    from service.adapters.auth import add_token, is_hashed, load_tokens

    if settings.auth_tokens_file or settings.auth_jwt_key or settings.auth_jwt_key_file or (
        settings.auth_jwt_jwks_url
    ):
        return {}
    path = settings.run_dir / "tokens.toml"
    if not path.exists():
        for user, role in (("agent-42", "agent"), ("lead-7", "lead"), ("manager-1", "manager")):
            add_token(path, user, role, hashed=False)
    settings.auth_tokens_file = path
    return {identity.role: token for token, identity in load_tokens(path).items()
            if not is_hashed(token)}


def _print_tokens(settings: Settings, tokens: dict[str, str]) -> None:
    if not tokens:
        return
    lines = [f"  Tokens       {settings.auth_tokens_file}  (add one: python -m service token "
             "--user NAME --role ROLE)"]
    lines += [f"    {role:<10} Authorization: Bearer {token}" for role, token in tokens.items()]
    print("\n".join(lines) + "\n", file=sys.stderr, flush=True)


def _check_policy(path: Path) -> Policy:
    try:
        return load_policy(path)
    except PolicyFileError as error:
        typer.echo(f"the policy file is invalid: {error}", err=True)
        raise typer.Exit(2) from None


def _required(value: str | None, name: str) -> str:
    if not value:
        typer.echo(f"{name} must be set", err=True)
        raise typer.Exit(2)
    return value


if __name__ == "__main__":
    cli()
