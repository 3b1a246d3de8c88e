"""Watching the watcher: if no renewal sweep ran for 24 hours, every page and an email say so.

Nothing outside the panel will tell the admin (Let's Encrypt stopped expiry emails in 2025), and
beat itself cannot report that beat is down, so web requests and /health/ check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from certpanel.heartbeat import heartbeat_last_seen, heartbeat_record
from repository import emails
from repository.models import PanelSettings

log = logging.getLogger(__name__)

SWEEP = "renewal-sweep"
STALL_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class SweepState:
    last_sweep: datetime | None
    stalled: bool


def sweep_state(*, now: datetime | None = None) -> SweepState:
    now = now or timezone.now()
    last = heartbeat_last_seen(name=SWEEP)
    since = last or PanelSettings.load().created_at
    return SweepState(last, now - since > STALL_AFTER)


def sweep_stall_check(*, now: datetime | None = None) -> SweepState:
    """Report a stall by email once per incident (a conditional UPDATE makes "once" hold across processes)."""
    state = sweep_state(now=now)
    if state.stalled and PanelSettings.objects.filter(pk=1, sweep_stall_notified=False).update(
        sweep_stall_notified=True
    ):
        try:
            from repository.renewals import notify_to

            emails.send_sweep_stalled(to=notify_to(), last_sweep=state.last_sweep, now=now)
        except Exception:
            log.exception("could not send the sweep-stalled email")
    return state


def sweep_ran(*, now: datetime | None = None) -> None:
    heartbeat_record(name=SWEEP)
    if PanelSettings.objects.filter(pk=1, sweep_stall_notified=True).update(sweep_stall_notified=False):
        from repository.renewals import notify_to

        emails.send_sweep_recovered(to=notify_to(), last_sweep=now or timezone.now())
