"""A panel in a world of its own, configured the way users run it, for end-to-end tests and benchmarks.

- `embedded`: exactly what `make run` configures: a fresh CERTPANEL_DATA_DIR and no DATABASE_URL,
  CELERY_BROKER_URL or REDIS_URL, so SQLite and kombu's filesystem broker in the data dir.
- `production`: PostgreSQL + Redis: a fresh database on the PostgreSQL server (127.0.0.1:5432, or the
  server of DATABASE_URL), created here and dropped on close, and a private `redis-server`.

Nothing here touches the pytest test database or the broker the suite runs on, and nothing imports Django
settings: the panel runs in child processes (`manage.py …`), which get `World.env`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.support.pebble import PEBBLE_ALLOW, free_port
from tests.support.processes import ROOT, start, wait_for

STACKS = ("embedded", "production")
# Variables that would pull a child into the suite's world (or another configuration) instead of this one.
_INHERITED_PREFIXES = ("CERTPANEL_", "CELERY_", "EMAIL_", "PEBBLE_")
_INHERITED_NAMES = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEFAULT_FROM_EMAIL"}
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


@dataclass
class World:
    stack: str
    root: Path
    env: dict[str, str]
    query: Callable[[str], list[tuple[Any, ...]]]
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return Path(self.env["CERTPANEL_DATA_DIR"])

    def manage(self, *args: str, timeout: float = 120) -> str:
        """`manage.py ARGS` in this world; its stdout, or an AssertionError with its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout

    def manage_many(self, commands: Sequence[Sequence[str]], *, timeout: float = 120) -> list[str]:
        """Several `manage.py` commands started at once (as many admins or a shell loop with `&` would)."""
        running = [
            subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        outputs = []
        for args, process in zip(commands, running, strict=True):
            out, err = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise AssertionError(f"manage.py {' '.join(args)} exited {process.returncode}:\n{out}{err}")
            outputs.append(out)
        return outputs

    def start(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        """A long-running `python ARGS` in this world (own session), stopped when the world closes."""
        process = start(args, self.env, self.root / log_name)
        self.closers.append(lambda: _interrupt(process))
        return process

    def log(self, log_name: str) -> str:
        path = self.root / log_name
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        while self.closers:
            with contextlib.suppress(Exception):
                self.closers.pop()()


def _interrupt(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Ctrl-C, as an admin stops `make run`; the whole group is killed if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _base_env(data_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_INHERITED_PREFIXES) and name not in _INHERITED_NAMES
    }
    env.update(PYTHONUNBUFFERED="1", CERTPANEL_DATA_DIR=str(data_dir), CERTPANEL_HOSTNAME="panel.test")
    env.update(CERTPANEL_OUTBOUND_ALLOW=PEBBLE_ALLOW)  # the Pebble these worlds use listens on loopback
    return env


@contextlib.contextmanager
def embedded_world(root: Path) -> Iterator[World]:
    data_dir = root / "data"
    database = data_dir / "certpanel.sqlite3"

    def query(sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
            return conn.execute(sql).fetchall()

    world = World("embedded", root, _base_env(data_dir), query)
    try:
        yield world
    finally:
        world.close()


def postgres_server_url() -> str:
    """The PostgreSQL server the suite uses (its maintenance DB), else the machine's default."""
    url = os.environ.get("DATABASE_URL", "")
    return _with_path(url, "/postgres") if url.startswith(("postgres://", "postgresql://")) else POSTGRES_SERVER


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@contextlib.contextmanager
def production_world(root: Path) -> Iterator[World]:
    server = postgres_server_url()
    name = f"certpanel_world_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    database_url = _with_path(server, f"/{name}")

    def query(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_url) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

    def drop() -> None:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    env = _base_env(root / "data")
    world = World("production", root, env, query, closers=[drop])
    try:
        redis_port = _start_redis(world)
        env.update(DATABASE_URL=database_url, CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0")
        yield world
    finally:
        world.close()


def _start_redis(world: World) -> int:
    port = free_port()
    log = world.root / "redis.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=world.root,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def close() -> None:
        process.kill()
        process.wait()
        handle.close()

    world.closers.append(close)
    wait_for(lambda: b"Ready to accept connections" in log.read_bytes(), timeout=20, what="redis-server", log=log)
    return port


@contextlib.contextmanager
def world(stack: str, root: Path) -> Iterator[World]:
    root.mkdir(parents=True, exist_ok=True)
    with (embedded_world if stack == "embedded" else production_world)(root) as made:
        yield made


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, log: Path | None = None) -> float:
    """Seconds it took `condition` to hold (polled every 0.2 s); AssertionError with the log's tail otherwise."""
    began = time.monotonic()
    wait_for(condition, timeout=timeout, what=what, log=log)
    return time.monotonic() - began
