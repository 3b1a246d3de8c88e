"""Watching the watcher: if no renewal sweep ran for 24 hours, every page and an email say so.

Nothing outside the panel will tell the admin (Let's Encrypt stopped expiry emails in 2025), and
beat itself cannot report that beat is down. So every worker checks on a timer of its own
(certpanel/worker_watch.py → sweep_stall_check); pages and /health/ only read (sweep_state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from certpanel.heartbeat import heartbeat_last_seen, heartbeat_record
from repository import emails
from repository.models import PanelSettings

SWEEP = "renewal-sweep"
STALL_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class SweepState:
    last_sweep: datetime | None
    stalled: bool


def sweep_state(*, now: datetime | None = None) -> SweepState:
    """Read only: two indexed lookups, no row created (a fresh install has no sweep and is not stalled)."""
    now = now or timezone.now()
    last = heartbeat_last_seen(name=SWEEP)
    since = last or PanelSettings.objects.filter(pk=1).values_list("created_at", flat=True).first()
    return SweepState(last, since is not None and now - since > STALL_AFTER)


def sweep_stall_check(*, now: datetime | None = None) -> SweepState:
    """Run by the worker: email a stall once per incident (a conditional UPDATE makes "once" hold across
    processes, and the email is queued in the same transaction)."""
    PanelSettings.load()  # the row the conditional UPDATE needs
    state = sweep_state(now=now)
    if state.stalled:
        with transaction.atomic():
            if PanelSettings.objects.filter(pk=1, sweep_stall_notified=False).update(sweep_stall_notified=True):
                emails.queue_sweep_stalled(to=emails.notify_to(), last_sweep=state.last_sweep, now=now)
    return state


def sweep_ran(*, now: datetime | None = None) -> None:
    heartbeat_record(name=SWEEP)
    with transaction.atomic():
        if PanelSettings.objects.filter(pk=1, sweep_stall_notified=True).update(sweep_stall_notified=False):
            emails.queue_sweep_recovered(to=emails.notify_to(), last_sweep=now or timezone.now())
