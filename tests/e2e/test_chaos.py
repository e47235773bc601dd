"""`make chaos`, reduced: the real service killed and cut off from PostgreSQL under load."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_fault_injection_run_finds_no_violation():
    # given the repository, with its own PostgreSQL and broker started by the run itself
    started = time.monotonic()
    # when the quick run kills the service once and stops PostgreSQL once under load
    run = subprocess.run([sys.executable, "-m", "chaos", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    output = f"after {took:.0f} s:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    # then it printed the verifier's table, found nothing wrong, and cleaned up after itself
    for row in ("grants sent", "facts missing", "facts doubled", "over-credited orders",
                "projection mismatches", "dead letters doubled", "ordering violations",
                "longest HTTP unavailability"):
        assert row in run.stdout, output
    assert "RESULT: PASS" in run.stdout, output
    assert run.returncode == 0, output
    assert "work dir removed" in run.stdout, output
