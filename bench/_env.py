"""Shared set-up for benchmarks: a throwaway data dir, a database and a Redis DB of their own.

Imported before Django is set up. The database is `certpanel_bench`, created and dropped on the
PostgreSQL server of DATABASE_URL (default 127.0.0.1:5432) when it answers, otherwise SQLite in the
temp data dir. The broker is DB 15 on the Redis of CELERY_BROKER_URL / REDIS_URL (default 127.0.0.1).
A benchmark never writes into the database or broker DB the panel or the tests use: the sweep leaves
10,000 due certificates behind, which a worker started on that database would then try to renew.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_DIR = Path(tempfile.mkdtemp(prefix="certpanel-bench-"))
atexit.register(shutil.rmtree, DATA_DIR, True)
BENCH_DATABASE = os.environ.get("CERTPANEL_BENCH_DATABASE", "certpanel_bench")


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


def _postgres(server_url: str) -> str | None:
    """A fresh bench database on that server, dropped at exit; None when the server does not answer."""
    import psycopg

    admin = _with_path(server_url, "/postgres")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
            conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    except psycopg.Error:
        return None

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")

    atexit.register(drop)
    return _with_path(server_url, f"/{BENCH_DATABASE}")


_database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
_broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
os.environ.pop("DATABASE_URL", None)
if _database.startswith(("postgres://", "postgresql://")) and (url := _postgres(_database)):
    os.environ["DATABASE_URL"] = url
os.environ["CELERY_BROKER_URL"] = _with_path(_broker, "/15")
os.environ.pop("REDIS_URL", None)
os.environ["CERTPANEL_DATA_DIR"] = str(DATA_DIR)
os.environ.setdefault("CERTPANEL_HOSTNAME", "bench.example")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certpanel.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)


def flush_broker() -> None:
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
