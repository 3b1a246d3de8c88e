"""Shared set-up for benchmarks: a throwaway data dir, a bench database and Redis DB 15.

Imported before Django is set up. PostgreSQL is used when it answers at 127.0.0.1:5432 (a database
`certpanel_bench` is created and dropped), otherwise SQLite in the temp data dir.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_DIR = Path(tempfile.mkdtemp(prefix="certpanel-bench-"))
atexit.register(shutil.rmtree, DATA_DIR, True)
os.environ["CERTPANEL_DATA_DIR"] = str(DATA_DIR)
os.environ.setdefault("CERTPANEL_HOSTNAME", "bench.example")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certpanel.settings")


def _postgres() -> str | None:
    if shutil.which("psql") is None:
        return None
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAtc"]
    try:
        subprocess.run([*base, "DROP DATABASE IF EXISTS certpanel_bench"], check=True, capture_output=True)
        subprocess.run([*base, "CREATE DATABASE certpanel_bench"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    atexit.register(subprocess.run, [*base, "DROP DATABASE IF EXISTS certpanel_bench"], capture_output=True)
    return "postgres://postgres@127.0.0.1:5432/certpanel_bench"


if "DATABASE_URL" not in os.environ:
    url = _postgres()
    if url:
        os.environ["DATABASE_URL"] = url

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
