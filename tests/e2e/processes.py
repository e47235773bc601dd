"""The real service as a subprocess, for the end-to-end tests."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_ready(
    url: str, process: subprocess.Popen, timeout: float = 60, log: Path | None = None
) -> None:
    """Until `url` answers 200; fails when the process exits first or time runs out, with
    the end of its log when there is one."""
    tail = (lambda: "\n" + log.read_text()[-3000:]) if log else (lambda: "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited during start-up{tail()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} was not ready within {timeout} s{tail()}")
