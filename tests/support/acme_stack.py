"""The panel's real ACME path for tests: Pebble + challtestsrv, the panel's own `acme_responder`
process on Pebble's httpPort, and a real Celery worker on Redis, all against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.test import override_settings

from repository.acme.accounts import acme_account_register
from repository.models import AcmeAccount
from tests.support.challenge_gate import ChallengeGate
from tests.support.pebble import PEBBLE_ALLOW, Pebble, PebbleOptions, free_port
from tests.support.processes import (
    child_env,
    database_url_for_children,
    require_redis_broker,
    start,
    start_celery_worker,
    stop,
    wait_for,
)


@dataclass
class Stack:
    workdir: Path
    pebble: Pebble
    responder_port: int
    worker_env: dict[str, str]
    processes: dict[str, object] = field(default_factory=dict)
    gate: ChallengeGate | None = None

    def start_worker(self, name: str = "worker") -> None:
        self.processes[name] = start_celery_worker(self.worker_env, self.workdir / f"{name}.log", name=name)

    def start_beat(self) -> None:
        """Celery beat with this stack's environment: the sweeps run as in production, on its intervals."""
        log = self.workdir / "beat.log"
        self.processes["beat"] = start(
            ["-m", "celery", "-A", "certpanel", "beat", "--loglevel", "INFO", "--schedule", str(self.workdir / "beat")],
            self.worker_env,
            log,
        )
        wait_for(lambda: b"beat: Starting" in log.read_bytes(), timeout=60, what="beat to start", log=log)

    def kill_worker(self, name: str = "worker") -> None:
        """SIGKILL, as the OOM killer or a power cut would: no warm shutdown, no acks."""
        process = self.processes.pop(name)
        # The whole process group: prefork children must not finish the task behind our back.
        os.killpg(process.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        process.wait()  # type: ignore[attr-defined]

    def account(self, **kwargs: object) -> AcmeAccount:
        return acme_account_register(
            directory_url=self.pebble.directory_url,
            email="hostmaster@example.com",
            agree_tos=True,
            ca_bundle_pem=self.pebble.ca_bundle_path.read_text(),
            name="Pebble",
            **kwargs,  # type: ignore[arg-type]
        )

    def worker_log(self, name: str = "worker") -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def close(self) -> None:
        for process in self.processes.values():
            stop(process)  # type: ignore[arg-type]
        if self.gate is not None:
            self.gate.close()
        self.pebble.close()


@contextlib.contextmanager
def acme_stack(
    workdir: Path,
    *,
    pebble: PebbleOptions | None = None,
    worker: bool = True,
    env: dict[str, str] | None = None,
    gated: bool = False,
) -> Iterator[Stack]:
    """`gated=True` puts a ChallengeGate on Pebble's httpPort, in front of the responder."""
    broker = require_redis_broker()
    responder_port = free_port()
    options = pebble or PebbleOptions(http_port=responder_port)
    options.http_port = free_port() if gated else responder_port
    defaults = {
        "DATABASE_URL": database_url_for_children(),
        "CELERY_BROKER_URL": broker,  # a test may give its own (a private Redis it stops and starts)
        "CERTPANEL_DATA_DIR": str(settings.DATA_DIR),
        "CERTPANEL_KEY_ENCRYPTION_KEY": _kek_text(),
        "CERTPANEL_BASE_URL": "https://panel.example.net",
        "CERTPANEL_OUTBOUND_ALLOW": PEBBLE_ALLOW,  # Pebble listens on loopback, which outbound fetches refuse
    }
    worker_env = child_env(**{**defaults, **(env or {})})
    stack = Stack(workdir, Pebble(workdir / "pebble", options), responder_port, worker_env)
    try:
        responder_log = workdir / "responder.log"
        stack.processes["responder"] = start(
            ["manage.py", "acme_responder", "--port", str(responder_port), "--host", "127.0.0.1"],
            worker_env,
            responder_log,
        )
        wait_for(
            lambda: b"Answering" in responder_log.read_bytes(), timeout=30, what="the responder", log=responder_log
        )
        if gated:
            stack.gate = ChallengeGate(options.http_port, responder_port)
        stack.pebble.start()
        if worker:
            stack.start_worker()
        with override_settings(CERTPANEL_OUTBOUND_ALLOW=[PEBBLE_ALLOW]):  # this process's ACME calls (CLI, views)
            yield stack
    finally:
        stack.close()


def _kek_text() -> str:
    import base64

    from repository.keystore import current_kek

    return base64.b64encode(current_kek()).decode()
