"""Helpers for tests that start real processes (web server, Celery worker) against the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url_for_children() -> str:
    """The database the test run uses, as a URL a child process can be given."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    return {k: v for k, v in env.items() if v is not None}


def start(args: list[str], env: dict[str, str], log: Path, *, python: str = sys.executable) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    # Own session: a test can kill the process and all its children (Celery's prefork pool) at once.
    return subprocess.Popen(
        [python, *args], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, log: Path | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tail}")


def stop(process: subprocess.Popen[bytes], *, timeout: float = 20) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


def start_celery_worker(env: dict[str, str], log: Path, *, name: str = "test", concurrency: int = 2) -> Popen:
    """A real worker process (prefork), returned once it says it is ready."""
    process = start(
        [
            "-m",
            "celery",
            "-A",
            "certpanel",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        env,
        log,
    )
    wait_for(lambda: b"ready." in log.read_bytes(), timeout=60, what=f"{name} to start", log=log)
    return process


def require_redis_broker() -> str:
    """Worker tests run on Redis; CI must have it, a laptop without it skips them."""
    import pytest
    from django.conf import settings

    broker = str(settings.CELERY_BROKER_URL)
    if not broker.startswith("redis://"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the worker tests on Redis: set CELERY_BROKER_URL")
        pytest.skip("set CELERY_BROKER_URL=redis://… to run the worker tests")
    return broker
