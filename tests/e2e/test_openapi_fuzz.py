"""The OpenAPI document tells the truth: schemathesis against the real running service.

`python -m service run` (embedded PostgreSQL and broker) is started as a user starts it,
orders are published through the real broker, a claim and held appeasements are made over
HTTP, then schemathesis runs every check (its own and the contract's, see
tests/e2e/fuzzing.py) over the examples, coverage and fuzzing phases, with a fixed seed.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.e2e.fuzzing import config, run_schemathesis, running_service, seed

pytestmark = pytest.mark.e2e

SEED = 20261120
#: Test cases per operation in the fuzzing phase; with examples and coverage (whose cases do
#: not depend on it) about 1,900 requests in all.
MAX_EXAMPLES = 30
#: The wall-clock limit of the schemathesis run (about 30 s here, 55 s with other tests running).
TIME_LIMIT = 75
ORDERS = ["FUZZ-1", "FUZZ-2", "FUZZ-3", "FUZZ-4"]


def test_schemathesis_finds_no_failure_against_the_running_service(tmp_path):
    with running_service(tmp_path / "run") as service:
        # given orders on the bus, and a claim and held appeasements on each
        seeded = seed(service, ORDERS)
        config_file = tmp_path / "schemathesis.toml"
        config_file.write_text(config(seeded, service.tokens["manager"],
                                      max_examples=MAX_EXAMPLES, seed=SEED))
        # when schemathesis runs every check against the running service
        started = time.monotonic()
        try:
            run = run_schemathesis(service, seeded, config_file, timeout=TIME_LIMIT)
        except subprocess.TimeoutExpired as expired:
            output = expired.stdout or b""
            output = output.decode(errors="replace") if isinstance(output, bytes) else output
            pytest.fail(f"schemathesis ran over {TIME_LIMIT} s:\n{output[-6000:]}")
        took = time.monotonic() - started
        # then it found nothing: no failure, no error, and every operation was tested
        report = run.stdout + run.stderr
        summary = report[report.find("=== SUMMARY"):] if "=== SUMMARY" in report else report
        assert run.returncode == 0, (
            f"schemathesis failed (exit {run.returncode}, {took:.0f} s):\n{_failures(report)}"
            f"\n--- service log ---\n{service.log_tail()}"
        )
        selected = re.search(r"Selected: (\d+)/(\d+)", summary)
        assert selected and selected[1] == selected[2], summary
        assert f"Tested: {selected[1]}\n" in summary, summary
        assert re.search(r"\d+ generated, \d+ passed", summary), summary
        print(f"schemathesis, {took:.0f} s:\n{summary}")


def _failures(report: str, limit: int = 24000) -> str:
    """The report from its failures on (each with the curl that reproduces it), the summary
    kept whole when it is long."""
    start = report.find("=== FAILURES")
    shown = report[start:] if start >= 0 else report
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit - 6000]}\n[...]\n{shown[-6000:]}"
