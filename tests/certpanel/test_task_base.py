"""Every task retries transient database errors (certpanel/task_base.py, certpanel/db_transient.py)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection

from certpanel.celery import app
from certpanel.db_transient import BACKOFF_MAX, backoff, is_transient
from certpanel.task_base import PanelTask
from repository.acme.orders import acme_order_create
from repository.models import AcmeOrder, Certificate
from repository.tasks import acme_order_process_task
from tests.support.acme_stack import acme_stack
from tests.support.pebble import pebble_installed
from tests.support.processes import wait_for


def _sqlite_error(tmp_path: Path, sql: str, *, lock: bool = False) -> sqlite3.Error:
    path = tmp_path / "t.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    if lock:
        holder.execute("BEGIN IMMEDIATE")
    try:
        sqlite3.connect(path, timeout=0, isolation_level=None).execute(sql)
    except sqlite3.Error as error:
        return error
    finally:
        holder.close()
    raise AssertionError(f"{sql} did not fail")


def _wrapped(cause: BaseException) -> OperationalError:
    """As Django's error wrapper raises it: django.db.OperationalError from the driver's error."""
    try:
        raise OperationalError(*cause.args) from cause
    except OperationalError as error:
        return error


def test_sqlite_locked_is_transient_and_no_such_table_is_not(tmp_path: Path) -> None:
    locked = _sqlite_error(tmp_path, "INSERT INTO t VALUES (1)", lock=True)
    assert "locked" in str(locked)
    assert is_transient(locked) and is_transient(_wrapped(locked))
    missing = _sqlite_error(tmp_path, "SELECT * FROM missing")
    assert isinstance(missing, sqlite3.OperationalError)
    assert not is_transient(missing) and not is_transient(_wrapped(missing))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (psycopg.InterfaceError("the connection is closed"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.UndefinedTable('relation "x" does not exist'), False),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
    ],
)
def test_postgres_errors_that_go_away_by_themselves_are_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient
    assert is_transient(_wrapped(error)) is transient


def test_other_errors_are_not_transient() -> None:
    assert not is_transient(IntegrityError("UNIQUE constraint failed"))
    assert not is_transient(ValueError("database is locked"))


def test_backoff_doubles_with_jitter_up_to_a_ceiling() -> None:
    assert [backoff(n, rand=lambda: 0.0) for n in range(3)] == [0.25, 0.5, 1.0]
    assert [backoff(n, rand=lambda: 1.0) for n in range(3)] == [0.5, 1.0, 2.0]
    assert backoff(50, rand=lambda: 1.0) == BACKOFF_MAX
    assert backoff(50, rand=lambda: 0.0) == BACKOFF_MAX / 2


def test_every_task_is_a_panel_task() -> None:
    app.loader.import_default_modules()
    panel_tasks = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert "repository.acme_order_process" in panel_tasks and "services.deployment_run" in panel_tasks
    assert all(isinstance(task, PanelTask) for task in panel_tasks.values())


@pytest.mark.integration
@pytest.mark.skipif(not pebble_installed(), reason="needs Debian's pebble (apt-get install pebble)")
def test_worker_that_loses_its_database_connection_mid_order_retries_at_once_instead_of_waiting_out_the_lease(
    transactional_db: None, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("kills the worker's PostgreSQL connection")
    name = "certpanel-worker-under-test"
    with acme_stack(tmp_path, gated=True, worker=False) as stack:
        stack.worker_env["DATABASE_URL"] += f"?application_name={name}"
        stack.start_worker()
        order = acme_order_create(account=stack.account(), hostnames=["mail.example.com"])
        acme_order_process_task.delay(order.pk)
        assert stack.gate is not None
        stack.gate.wait_requested(timeout=60)  # the worker is polling the authorization, renewing its lease
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s", [name]
            )
            assert cursor.fetchone()[0] >= 1
        killed = time.monotonic()
        stack.gate.release()
        wait_for(
            lambda: AcmeOrder.objects.filter(pk=order.pk, status="issued").exists(),
            timeout=60,
            what="the order to be issued",
            log=tmp_path / "worker.log",
        )
        # The lease is 120 s: an order resumed before it ran out was not blocked by its own dead run.
        assert time.monotonic() - killed < 30
        log = stack.worker_log()
        assert log.count("transient database error, retry 1 of") == 1, log
        assert "Traceback" not in log and "raised unexpected" not in log, log
        assert Certificate.objects.filter(source="acme").count() == 1
        assert AcmeOrder.objects.get(pk=order.pk).lease_owner == ""
