"""`make run` as a user runs it: embedded PostgreSQL and broker, the service, the demo, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from service.adapters.auth import load_tokens
from service.embedded import free_port
from tests.e2e.processes import wait_ready

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_run_starts_everything_serves_the_demo_and_stops_cleanly(tmp_path):
    # given a fresh run folder and free ports, without DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS
    http_port, kafka_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}}
    env.update(RUN_DIR=str(tmp_path / "run"), HTTP_PORT=str(http_port),
               EMBEDDED_KAFKA_PORT=str(kafka_port), LOG_FORMAT="json")
    api = f"http://127.0.0.1:{http_port}"
    # when the service is started the way `make run` starts it
    service = subprocess.Popen([sys.executable, "-m", "service", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"{api}/readyz", service)
        children = psutil.Process(service.pid).children(recursive=True)
        tokens = load_tokens(tmp_path / "run" / "tokens.toml")
        agent = next(token for token, who in tokens.items() if who.role == "agent")
        authorization = {"Authorization": f"Bearer {agent}"}
        # then the README's demo publishes an order and the balance shows it
        demo = subprocess.run(
            [sys.executable, "-m", "service", "demo", "--order-id", "E2E-1",
             "--bootstrap", f"127.0.0.1:{kafka_port}", "--api", api],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
        assert demo.returncode == 0, demo.stderr
        assert '"gross": "544.80"' in demo.stdout
        balance = httpx.get(f"{api}/v1/orders/E2E-1/balance", headers=authorization).json()
        assert balance["buckets"]["shipping"]["creditable"]["gross"] == "5.90"
        # and a CS agent can give the shipping back for a late parcel
        granted = httpx.post(
            f"{api}/v1/orders/E2E-1/appeasements",
            json={"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}},
            headers={**authorization, "Idempotency-Key": "e2e-1"},
        )
        assert granted.status_code == 201, granted.text
        assert granted.json()["status"] == "PENDINGRELEASE"
        balance = httpx.get(f"{api}/v1/orders/E2E-1/balance", headers=authorization).json()
        assert balance["buckets"]["shipping"]["creditable"]["gross"] == "0.00"
        assert httpx.get(f"{api}/v1/orders/E2E-1/balance").status_code == 401
        assert httpx.get(f"{api}/docs").status_code == 200
        assert httpx.get(f"{api}/asyncapi").status_code == 200
    finally:
        # when the user presses Ctrl-C
        service.send_signal(signal.SIGINT)
        output, _ = service.communicate(timeout=60)
    # then everything stops: the service, the broker, and PostgreSQL's data is kept
    assert service.returncode in (0, 130, -signal.SIGINT), output.decode()[-2000:]
    assert b"embedded broker stopped" in output and b"embedded postgres stopped" in output
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {alive}"
    assert (tmp_path / "run" / "pgdata" / "PG_VERSION").exists()


def test_run_refuses_a_bad_policy_file_and_names_the_key(tmp_path):
    # given a policy whose agent limit is a TOML float
    policy = tmp_path / "policy.toml"
    policy.write_text('[reasons.OTHER]\nlabel = "Other"\nbuckets = ["product"]\n'
                      '[roles.agent]\nmax_per_appeasement = 10.5\n')
    env = {**os.environ, "POLICY_FILE": str(policy), "RUN_DIR": str(tmp_path / "run")}
    # when the service is started with it
    run = subprocess.run([sys.executable, "-m", "service", "run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    # then it stops at once, naming the bad key, and started nothing
    assert run.returncode == 2
    assert "roles.agent.max_per_appeasement" in run.stderr
    assert not (tmp_path / "run" / "pgdata").exists()


def test_serve_refuses_to_start_without_a_bank_details_key(tmp_path):
    # given a deployment with its own database, broker and JWT key, but no BANK_DETAILS_KEY
    env = {k: v for k, v in os.environ.items() if k != "BANK_DETAILS_KEY"}
    env.update(DATABASE_URL="postgresql://db.invalid/appeasement",
               KAFKA_BOOTSTRAP_SERVERS="kafka.invalid:9092", AUTH_JWT_KEY="s" * 40)
    # when the service is started
    serve = subprocess.run([sys.executable, "-m", "service", "serve"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    # then it refuses, saying how to make a key
    assert serve.returncode == 2
    assert "BANK_DETAILS_KEY is not set" in serve.stderr
    assert "python -m service bank-key" in serve.stderr
