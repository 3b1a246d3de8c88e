"""Which database errors go away by themselves, and how long to wait before trying again.

Transient: SQLite busy/locked (another process holds the write lock longer than the busy timeout),
a PostgreSQL connection that was lost, refused or closed (restart, failover, idle kill), and a
transaction the server rolled back to keep others consistent (serialization failure, deadlock).
Not transient: everything else, e.g. SQLite's "no such table" (also an OperationalError) — retrying
a missing migration only delays the error.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connections

T = TypeVar("T")

# SQLite primary result codes (the low byte of an extended code such as SQLITE_BUSY_SNAPSHOT).
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
# SQLSTATE classes and codes: 08 connection exception, 40 transaction rollback (40001 serialization failure,
# 40P01 deadlock), 57P01-03 admin/crash shutdown and "cannot connect now", 53300 too many connections.
_PG_CLASSES = {"08", "40"}
_PG_CODES = {"57P01", "57P02", "57P03", "53300"}

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same work later can succeed (django.db errors and the driver's own)."""
    cause = error.__cause__ if isinstance(error, DatabaseError) and error.__cause__ is not None else error
    if isinstance(cause, sqlite3.Error):
        code = getattr(cause, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
        return "locked" in str(cause) or "busy" in str(cause)
    if not isinstance(error, OperationalError | InterfaceError) and not _is_driver_error(cause):
        return False
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:  # no answer from the server at all: lost, refused, closed
        return True
    return sqlstate[:2] in _PG_CLASSES or sqlstate in _PG_CODES


def _is_driver_error(error: BaseException) -> bool:
    # psycopg's OperationalError/InterfaceError without importing psycopg (SQLite-only installs have it anyway,
    # but the classifier must not care which driver raised).
    return type(error).__module__.startswith("psycopg") and any(
        base.__name__ in ("OperationalError", "InterfaceError") for base in type(error).__mro__
    )


def backoff(attempt: int, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds before retry number `attempt` (0-based): doubling from BACKOFF_FIRST up to BACKOFF_MAX, with
    "equal jitter" (half fixed, half random) so that workers that failed together do not retry together."""
    ceiling: float = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
    return ceiling / 2 + rand() * ceiling / 2


def close_connections() -> None:
    """Drop every open connection outside a transaction, so the retry starts on a fresh one.

    A connection that saw a lost server stays broken; a locked SQLite connection is fine but cheap to reopen."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def retry_briefly(work: Callable[[], T], *, attempts: int = 3) -> T:
    """`work()` with a few quick retries on a fresh connection: for bookkeeping that must not be lost when the
    error that ended the real work also broke the connection (releasing an order's lease in a `finally`)."""
    for attempt in range(attempts):
        try:
            return work()
        except DatabaseError as error:
            if attempt == attempts - 1 or not is_transient(error):
                raise
            close_connections()
            time.sleep(backoff(attempt) / 4)
    raise AssertionError("unreachable")
