"""Schemathesis against the real service: start it, seed it through the broker, fuzz it.

Also the schemathesis hooks module (`hooks = "tests.e2e.fuzzing"` in the generated config):
the contract's own checks, registered with `@schemathesis.check`, run next to the built-in ones.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import schemathesis

from tests.e2e.processes import wait_ready

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
PROBLEM_JSON = "application/problem+json"

#: The scratched-table order: an oak table, two candles and 5.90 shipping, all captured.
TABLE = (("L1", 1, "499.00", "86.60", "PHYSICAL", 1),
         ("L2", 2, "39.90", "6.92", "PHYSICAL", 2),
         ("L3", 3, "5.90", "1.02", "SHIPPING", 1))


@dataclass
class RunningService:
    api: str
    bootstrap: str
    tokens: dict[str, str]
    log: Path

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextmanager
def running_service(run_dir: Path, timeout: float = 60) -> Iterator[RunningService]:
    """`python -m service run` as a user starts it, on free ports, stopped with Ctrl-C."""
    from service.adapters.auth import load_tokens
    from service.embedded import free_port

    http_port, kafka_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "AUTH_TOKENS_FILE",
                        "AUTH_JWT_KEY", "AUTH_JWT_KEY_FILE"}}
    env.update(RUN_DIR=str(run_dir), HTTP_PORT=str(http_port),
               EMBEDDED_KAFKA_PORT=str(kafka_port), LOG_FORMAT="json", LOG_LEVEL="WARNING")
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "service.log"
    api = f"http://127.0.0.1:{http_port}"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "service", "run"], cwd=ROOT, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"{api}/readyz", process, timeout, log)
        tokens = {who.role: token
                  for token, who in load_tokens(run_dir / "tokens.toml").items()}
        yield RunningService(api, f"127.0.0.1:{kafka_port}", tokens, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Seeded:
    """Ids that exist in the running service, for the fuzzer to aim at."""

    orders: list[str]
    lines: list[str]
    claims: list[str] = field(default_factory=list)
    appeasements: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def seed(service: RunningService, order_ids: list[str], held_per_order: int = 2) -> Seeded:
    """Orders through the real broker (MCOM order_management.created, keyed by order id),
    then over HTTP a claim on each and held appeasements (an agent above its limit) to
    approve or decline, and one released one."""
    from service.adapters.policy_file import load_policy
    from service.settings import Settings

    asyncio.run(_publish_orders(service.bootstrap, order_ids))
    seeded = Seeded(orders=order_ids, lines=[line[0] for line in TABLE],
                    reasons=sorted(load_policy(Settings().policy_file).reasons))
    with httpx.Client(base_url=service.api, timeout=10) as api:
        for order_id in order_ids:
            _balance_when(api, order_id, service.bearer("manager"))
        for order_id in order_ids:
            claim = api.post(f"/v1/orders/{order_id}/claims", headers=service.bearer("agent"),
                             json={"reason": "ARTICLE_DEFECTIVE", "comment": "photos sent"})
            assert claim.status_code == 201, claim.text
            seeded.claims.append(claim.json()["id"])
            for number in range(held_per_order):
                held = api.post(
                    f"/v1/orders/{order_id}/appeasements",
                    headers={**service.bearer("agent"),
                             "Idempotency-Key": f"seed-held-{order_id}-{number}"},
                    json={"reason": "ARTICLE_DEFECTIVE", "claim_id": claim.json()["id"],
                          "amounts": {"product": "120.00"}},
                )
                assert held.status_code == 201, held.text
                assert held.json()["status"] == "PENDINGAPPROVAL", held.text
                seeded.appeasements.append(held.json()["id"])
        released = api.post(
            f"/v1/orders/{order_ids[0]}/appeasements",
            headers={**service.bearer("manager"), "Idempotency-Key": "seed-released"},
            json={"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}},
        )
        assert released.status_code == 201, released.text
        seeded.appeasements.append(released.json()["id"])
    return seeded


async def _publish_orders(bootstrap: str, order_ids: list[str]) -> None:
    from aiokafka import AIOKafkaProducer

    from schemas.consumed import ORDER_CREATED
    from tests.builders import encode, jsonrpc, line, order

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for order_id in order_ids:
            lines = [line(line_id, number, gross, tax, product_type=kind, quantity=quantity)
                     for line_id, number, gross, tax, kind, quantity in TABLE]
            message = jsonrpc(ORDER_CREATED, {"order": order(order_id, lines)})
            await producer.send_and_wait(ORDER_CREATED, encode(message), key=order_id.encode())
    finally:
        await producer.stop()


def _balance_when(api: httpx.Client, order_id: str, headers: dict[str, str],
                  timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(f"/v1/orders/{order_id}/balance", headers=headers)
        if response.status_code == 200:
            return response.json()
        time.sleep(0.2)
    raise AssertionError(f"the balance of {order_id} was not served within {timeout} s")


def config(seeded: Seeded, token: str, *, max_examples: int, seed: int,
           workers: int = 1) -> str:
    """A schemathesis.toml: every check, the examples, coverage and fuzzing phases, the
    bearer token, and path ids mostly pinned to the seeded ones (the rest drawn, so that 404
    is exercised too)."""

    def values(items: list[str]) -> str:
        return json.dumps(items)

    return f"""\
seed = {seed}
workers = {workers}
hooks = "tests.e2e.fuzzing"
request-timeout = 10.0
# Hypothesis' `too_slow` measures how long drawing a case takes: on a busy 2-core machine
# the oneOf bodies can trip it without any fault of the service. The other health checks stay.
suppress-health-check = ["too_slow"]
generation.max-examples = {max_examples}
generation.database = "none"
# self-contained: no failures of earlier runs (against other ids) replayed from .schemathesis/
cache.enabled = false
phases.examples.enabled = true
phases.coverage.enabled = true
phases.fuzzing.enabled = true
phases.stateful.enabled = false

[auth.openapi.HTTPBearer]
bearer = "{token}"

[checks]
enabled = true
# A well-formed grant, preview, decision or claim may still break a rule that depends on
# the order's state and the policy, not on the request's shape: 422 with a rule code
# (EXCEEDS_CREDITABLE_BALANCE, NOT_PENDING_APPROVAL, CLAIM_CLOSED, ...), as the contract
# says. So 422 is an acceptable answer to valid data here; the hook check
# `request_shape_accepted` still fails any valid request that the request models refuse
# (400, or 422 MALFORMED_REQUEST with `errors`). 3xx, 429 and 5xx are not acceptable.
positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[dictionaries.orders]
values = {values(seeded.orders)}
[dictionaries.appeasements]
values = {values(seeded.appeasements)}
[dictionaries.claims]
values = {values(seeded.claims)}
[dictionaries.lines]
values = {values(seeded.lines)}
[dictionaries.reasons]
values = {values(seeded.reasons)}

[parameters]
"path.order_id" = {{ dictionary = "orders", probability = 0.9 }}
"path.appeasement_id" = {{ dictionary = "appeasements", probability = 0.9 }}
"path.claim_id" = {{ dictionary = "claims", probability = 0.9 }}
"body.reason" = {{ dictionary = "reasons", probability = 0.8 }}
"body.lines[*].line_id" = {{ dictionary = "lines", probability = 0.8 }}
"body.line_ids[*]" = {{ dictionary = "lines", probability = 0.8 }}
"""


def run_schemathesis(service: RunningService, seeded: Seeded, config_file: Path, *,
                     timeout: float, extra: tuple[str, ...] = ()
                     ) -> subprocess.CompletedProcess[str]:
    command = [str(SCHEMATHESIS), "--no-color", "--config-file", str(config_file), "run",
               f"{service.api}/openapi.json", "--checks", "all", *extra]
    claim_of = dict(zip(seeded.orders, seeded.claims, strict=True))
    env = {**os.environ, "PYTHONPATH": str(ROOT), SEEDED: json.dumps({"claim_of": claim_of})}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)


# --- the contract's own checks, run by schemathesis next to its built-in ones ----------------


def _header(response: Any, name: str) -> str:
    value = response.headers.get(name, [""])
    return value[0] if isinstance(value, list) else value


def _is_request_shape_probe(case: Any) -> bool:
    """Coverage's probes of the transport (an unexpected method or media type), which the
    built-in checks skip too."""
    try:
        from schemathesis.specs.openapi.checks import is_unexpected_http_status_case
    except ImportError:  # an internal of schemathesis 4.x: without it, check every case
        return False
    return bool(is_unexpected_http_status_case(case))


@schemathesis.check
def request_shape_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request the OpenAPI document calls valid is never refused for its shape: not 400,
    not 422 MALFORMED_REQUEST from the request models (those carry `errors`). A 422 with a
    rule code is the answer of a rule (see positive_data_acceptance in the config)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (
        400, 422
    ):
        return None
    if _is_request_shape_probe(case):
        return None
    body = json.loads(response.content)
    if response.status_code == 400 or (body.get("code") == "MALFORMED_REQUEST"
                                       and "errors" in body):
        raise AssertionError(
            f"a request valid per the OpenAPI document was refused as malformed: {body}")
    return None


#: The stable codes of ../shared/CONTRACT.md ("HTTP API"), by the status they come with.
RULE_CODES = frozenset({
    "ORDER_NOT_PAID", "PAYMENT_ERROR", "UNKNOWN_LINE", "LINE_UNDER_RETURN", "INVALID_AMOUNT",
    "CURRENCY_PRECISION", "EXCEEDS_CREDITABLE_BALANCE", "EXCEEDS_TOTAL_CREDITABLE",
    "UNKNOWN_REASON", "BUCKET_NOT_ALLOWED_FOR_REASON", "REASON_LIMIT_EXCEEDED",
    "ROLE_LIMIT_EXCEEDED", "TAX_ONLY_REQUIRES_NET_TAXATION", "TAX_WITH_OTHER_BUCKETS",
    "BANK_DETAILS_REQUIRED", "INVALID_BANK_DETAILS", "APPROVER_IS_REQUESTER",
    "NOT_PENDING_APPROVAL", "CLAIM_NOT_FOUND", "CLAIM_CLOSED", "MALFORMED_REQUEST",
    # bulk appeasements (README, "Bulk appeasements")
    "NO_ORDERS_SELECTED", "BULK_NOT_RUNNABLE",
})
CODES_BY_STATUS = {
    400: {"MALFORMED_JSON"},
    401: {"UNAUTHENTICATED"},
    403: {"FORBIDDEN"},
    404: {"NOT_FOUND", "ORDER_NOT_FOUND", "APPEASEMENT_NOT_FOUND", "CLAIM_NOT_FOUND",
          "BULK_NOT_FOUND"},
    405: {"METHOD_NOT_ALLOWED"},
    409: {"IDEMPOTENCY_KEY_REUSED"},
    413: {"PAYLOAD_TOO_LARGE"},
    422: RULE_CODES,
    503: {"DATABASE_UNAVAILABLE", "OVERLOADED"},
}


@schemathesis.check
def problem_json_with_a_stable_code(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx, documented or not, is RFC 9457 problem+json whose `status` is the
    response's and whose `code` is one the contract names for that status."""
    if response.status_code < 400:
        return None
    content_type = _header(response, "content-type")
    if not content_type.startswith(PROBLEM_JSON):
        raise AssertionError(
            f"{response.status_code} is {content_type or 'without a content type'}, "
            f"not {PROBLEM_JSON}")
    body = json.loads(response.content)
    if not (isinstance(body, dict) and body.get("status") == response.status_code
            and isinstance(body.get("title"), str)):
        raise AssertionError(f"{response.status_code}: not a problem of that status: {body}")
    if body.get("code") not in CODES_BY_STATUS.get(response.status_code, set()):
        raise AssertionError(
            f"{response.status_code} with code {body.get('code')!r}, not one the contract names "
            f"for it ({', '.join(sorted(CODES_BY_STATUS.get(response.status_code, ())))})")
    return None


GRANT = ("POST", "/v1/orders/{order_id}/appeasements")
PREVIEW = ("POST", "/v1/orders/{order_id}/appeasements/preview")
#: The seeded ids, for the hooks (they run in the schemathesis process).
SEEDED = "FUZZ_SEEDED"
_drawn = itertools.count()


def _valid(value: Any, limit: int = 200) -> bool:
    return isinstance(value, str) and re.fullmatch(rf"[\x21-\x7e]{{1,{limit}}}", value) is not None


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    """Aim grants and previews past what a drawn value cannot know, so they reach the rules
    (and the 201 answer) instead of stopping at the first check:

    - Idempotency-Key: drawn keys repeat (coverage sends every body with the key "0"), so
      nearly every grant would be a replay or a 409. Three in four get a unique suffix; the
      fourth keeps its drawn key, so replays and 409 IDEMPOTENCY_KEY_REUSED stay exercised.
    - claim_id: a drawn claim is not on the order (422 CLAIM_NOT_FOUND). One in four is
      kept, one in four becomes the order's seeded claim, the rest are dropped.

    Values that break the schema are left alone: they are the negative cases."""
    route = (case.method.upper(), case.operation.path)
    if route not in (GRANT, PREVIEW):
        return case
    number = next(_drawn)
    name = next((n for n in case.headers or {} if n.lower() == "idempotency-key"), None)
    if route == GRANT and name and _valid(case.headers[name], 180) and number % 4:
        case.headers = {**case.headers, name: f"{case.headers[name]}-{number}"}
    body = case.body
    if isinstance(body, dict) and _valid(body.get("claim_id")) and number % 4:
        claims = json.loads(os.environ.get(SEEDED, "{}")).get("claim_of", {})
        claim = claims.get(str((case.path_parameters or {}).get("order_id")))
        case.body = {**body, "claim_id": claim if number % 4 == 3 and claim else None}
    return case
