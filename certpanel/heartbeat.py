"""Worker liveness: recorded by a beat-scheduled task, read by the health check and every page."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from certpanel.models import Heartbeat

WORKER = "worker"


def heartbeat_record(*, name: str = WORKER) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"last_seen": timezone.now()})


def heartbeat_last_seen(*, name: str = WORKER) -> datetime | None:
    return Heartbeat.objects.filter(name=name).values_list("last_seen", flat=True).first()


def worker_is_stale(last_seen: datetime | None, *, now: datetime | None = None) -> bool:
    """Stale after three missed beats (beat itself may be a little late)."""
    if last_seen is None:
        return True
    limit = timedelta(seconds=3 * settings.CERTPANEL_HEARTBEAT_SECONDS + 30)
    return (now or timezone.now()) - last_seen > limit
