"""One service instance: `python -m service run` as a subprocess that dies with us."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chaos.parts import Parts
from service.embedded import _die_with_parent, free_port

ROOT = Path(__file__).resolve().parent.parent


class ServiceProcess:
    """`python -m service run` against our parts, its output in a log file of the work dir."""

    count = 0

    def __init__(self, parts: Parts, http_port: int | None = None) -> None:
        self.parts = parts
        self.port = http_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None

    def start(self) -> None:
        ServiceProcess.count += 1
        self.log = self.parts.work / f"service-{ServiceProcess.count}.log"
        env = {**os.environ, "DATABASE_URL": self.parts.database_url,
               "KAFKA_BOOTSTRAP_SERVERS": self.parts.bootstrap,
               "AUTH_TOKENS_FILE": str(self.parts.tokens_file),
               "BANK_DETAILS_KEY": self.parts.bank_key, "HTTP_HOST": "127.0.0.1",
               "HTTP_PORT": str(self.port), "RUN_DIR": str(self.parts.work / "run"),
               "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # from the main thread: PDEATHSIG follows it
                [sys.executable, "-m", "service", "run"], cwd=ROOT, env=env, stdout=output,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def kill(self) -> None:
        """kill -9: no shutdown hook runs."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    async def wait_healthy(self, timeout: float) -> float:
        """Seconds until /healthz answered 200; raises when the process died or time ran out."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() - started < timeout:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"the service exited during start-up; see {self.log}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the service was not healthy within {timeout:.0f} s; see {self.log}")
