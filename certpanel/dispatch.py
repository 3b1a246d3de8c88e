"""Handing work to the broker without letting a broker outage turn a click into an HTTP 500.

Every caller has already stored what it wants done (an order row, an outbox row, a deployment row) before
it dispatches; a failed dispatch is only recorded here, for the banner, and the periodic sweeps that own
those rows send the work again once the broker answers. So the worst an outage costs is a delay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from certpanel.models import BrokerOutage

log = logging.getLogger(__name__)

# Publishing is retried briefly (a Redis restart takes a moment); a page request must not hang on it.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5}


def dispatch(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Queue ``task(*args)``; False (and the outage recorded) when the broker cannot be reached."""
    try:
        task.apply_async(args, kwargs or None, retry=True, retry_policy=PUBLISH_RETRY)
    except (BrokerError, OSError) as error:
        log.warning("work queue unavailable, %s kept for later: %s", task.name, error)
        broker_outage_record(str(error))
        return False
    broker_outage_clear()
    return True


def dispatch_on_commit(task: Any, *args: Any, on_refused: Callable[[], object] | None = None, **kwargs: Any) -> None:
    """Queue once the caller's transaction commits (a worker must be able to load the row it is given).

    ``on_refused`` runs when the broker did not take it: the caller marks its row for its resume sweep."""

    def hand_over() -> None:
        if not dispatch(task, *args, **kwargs) and on_refused is not None:
            on_refused()

    transaction.on_commit(hand_over)


def broker_outage_record(error: str) -> None:
    now = timezone.now()
    if not BrokerOutage.objects.filter(pk=1).update(last_seen=now, last_error=error[:500]):
        BrokerOutage.objects.get_or_create(pk=1, defaults={"since": now, "last_seen": now, "last_error": error[:500]})


def broker_outage_clear() -> None:
    """Called after every good dispatch and by the worker, which proves the broker works.

    Read first: on SQLite even a DELETE that matches nothing takes the write lock, and this runs on every
    dispatch (20 `certs issue` at once would queue behind each other for nothing); a read does not block.
    """
    outage = BrokerOutage.objects.filter(pk=1)
    if outage.exists():
        outage.delete()


def broker_outage() -> BrokerOutage | None:
    return BrokerOutage.objects.filter(pk=1).first()


def broker_label() -> str:
    """The broker as an admin knows it, without a password: ``Redis at 127.0.0.1:6379``."""
    url = str(settings.CELERY_BROKER_URL)
    parts = urlsplit(url)
    if parts.scheme.startswith("redis"):
        return f"Redis at {parts.hostname or 'localhost'}:{parts.port or 6379}"
    if parts.scheme == "filesystem":
        return f"the file queue in {settings.DATA_DIR / 'broker'}"
    return f"{parts.scheme} at {parts.hostname or 'localhost'}{f':{parts.port}' if parts.port else ''}"
