from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import ManagementUtility
from django.test import Client

from tests.support.factories import CA, make_ca


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs several workers) each worker has its own test database (pytest-django
    adds the suffix) and must have its own Redis database too: a Celery worker started by one test run would
    otherwise take the tasks another run queued, against the wrong database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        _broker_per_worker(int(worker[2:]))


def _broker_per_worker(index: int) -> None:
    # Imported only now: the Celery app must read its settings after the broker URL below is in them.
    from certpanel.celery import app

    broker = urlsplit(str(settings.CELERY_BROKER_URL))
    if broker.scheme not in ("redis", "rediss") or index == 0:
        return
    base = int(broker.path.strip("/") or 0)
    url = urlunsplit(broker._replace(path=f"/{(base + index) % 16}"))
    settings.CELERY_BROKER_URL = url
    app.conf.broker_url = url
    os.environ["CELERY_BROKER_URL"] = url  # the workers, beats and panels the tests start


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, request: pytest.FixtureRequest
) -> None:
    """On SQLite, remove a WAL left beside the test database by a run that was killed.

    Django deletes the old test database file but not its `-wal`/`-shm`; SQLite would replay that WAL into
    the new file (the database runs in WAL mode, see settings). With --reuse-db the WAL is the database's own."""
    database = settings.DATABASES["default"]
    reused = request.config.getvalue("reuse_db") and not request.config.getvalue("create_db")
    if database["ENGINE"].endswith("sqlite3") and not reused:
        name = Path(database["TEST"]["NAME"])
        for suffix in ("-wal", "-shm"):
            name.with_name(name.name + suffix).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def password_login(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests log in with a password alone (force_login, the browser's login form, panels they start): two-factor
    login is tested on its own (tests/certpanel/test_twofactor*.py, which turn it back on), and the production
    smoke stage runs the panel as users do, with it enforced (its environment is built from scratch)."""
    settings.CERTPANEL_REQUIRE_2FA = False
    monkeypatch.setenv("CERTPANEL_REQUIRE_2FA", "false")


@pytest.fixture(scope="session")
def ca() -> CA:
    return make_ca()


@pytest.fixture
def admin_user(db: None) -> object:
    return get_user_model().objects.create_user("alice", password="not-used-here", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(admin_user: object) -> Client:
    client = Client()
    client.force_login(admin_user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def viewer_client(db: None) -> Client:
    user = get_user_model().objects.create_user("victor", password="not-used-here", is_staff=False)
    client = Client()
    client.force_login(user)
    return client


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        return self.err.strip().splitlines()[-1] if self.err.strip() else ""


@pytest.fixture
def cli(transactional_db: None) -> Callable[..., CliResult]:
    """Run `manage.py ARGS` through Django's real entry point: argv parsing, exit codes, stderr.

    transactional_db, because the command closes DB connections on exit as in production.
    """

    def run(*args: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = 0
        saved_argv = sys.argv
        try:
            with redirect_stdout(out), redirect_stderr(err):
                ManagementUtility(["manage.py", *args]).execute()
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.argv = saved_argv
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def write_file(tmp_path: object) -> Iterator[Callable[[str, bytes], str]]:
    def write(name: str, data: bytes) -> str:
        path = tmp_path / name  # type: ignore[operator]
        path.write_bytes(data)
        return str(path)

    yield write
