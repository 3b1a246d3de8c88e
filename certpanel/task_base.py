"""The panel's Celery task class: every task retries transient database errors with backoff.

It is the app's task class (certpanel/celery.py), so task modules need nothing. It only sees what a
task let through: a task that handles its own errors (acme_order_process's OrderBusy and AcmeError)
keeps doing so. A database retry leaves `request.retries` as it was, so it never eats into a task's
own retry budget; the database attempts are counted in a message header of their own instead.

One log line per retry (Celery's "Task … retry: …" line, worded here), no traceback; a task whose
attempts are spent fails as any other task does, with the traceback.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, cast

from celery import Task
from celery.exceptions import Retry

from certpanel.audit.origin import acting_as
from certpanel.db_transient import backoff, close_connections, is_transient

DB_ATTEMPTS_HEADER = "certpanel_db_retries"
# 10 retries with the backoff of certpanel/db_transient.py: about 2 minutes in all, longer than
# a PostgreSQL restart or any write lock the panel holds, shorter than an order's lease.
DB_RETRIES = 10


class PanelTask(Task[Any, Any]):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            with acting_as("worker"):  # the audit log's actor for what a task does
                return super().__call__(*args, **kwargs)
        except Exception as error:
            if not is_transient(error) or not self._may_retry_database():
                raise
            raise self._retry_database(error) from None

    def _database_attempts(self) -> int:
        return int(getattr(self.request, DB_ATTEMPTS_HEADER, 0) or 0)

    def _may_retry_database(self) -> bool:
        # Called directly or eagerly (tests, shell): there is no message to send again.
        request = self.request
        return not request.called_directly and not request.is_eager and self._database_attempts() < DB_RETRIES

    def _retry_database(self, error: Exception) -> Retry:
        close_connections()
        attempt = self._database_attempts()
        countdown = backoff(attempt)
        again = self.signature_from_request(
            self.request, countdown=countdown, retries=self.request.retries, headers={DB_ATTEMPTS_HEADER: attempt + 1}
        )
        again.apply_async()
        message = (
            f"transient database error, retry {attempt + 1} of {DB_RETRIES} in {countdown:.1f} s: "
            f"{type(error).__name__}: {error}"
        )
        # celery-types declare `when` as numbers.Real, which mypy does not match with float (PEP 484 numeric tower).
        return Retry(message=message, exc=error, when=cast(Real, countdown), sig=again)
