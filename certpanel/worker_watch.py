"""A timer inside every Celery worker that asks for the renewal-sweep watch (repository.sweep_stall_check).

Why the worker and not beat (or the beat-driven heartbeat task): the commonest reason for no renewal
sweep is that beat is not running, and a beat-scheduled check would die with it. Why not page requests:
a page must only read. The timer only publishes a task by name (cheap, never blocks the worker on SMTP
or the database); the pool runs it, and the check itself is a conditional UPDATE, so several workers
checking at once still email once per incident.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps
from django.conf import settings

log = logging.getLogger(__name__)

SWEEP_WATCH_TASK = "repository.sweep_stall_check"


class SweepWatch(bootsteps.StartStopStep):
    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_entries: list[Any] = []

    def start(self, worker: Any) -> None:
        interval = float(settings.CERTPANEL_HEARTBEAT_SECONDS)
        self.timer_entries = [
            worker.timer.call_after(1.0, self.tick, (worker,)),
            worker.timer.call_repeatedly(interval, self.tick, (worker,), priority=10),
        ]

    def stop(self, worker: Any) -> None:
        for entry in self.timer_entries:
            entry.cancel()
        self.timer_entries = []

    def tick(self, worker: Any) -> None:
        interval = float(settings.CERTPANEL_HEARTBEAT_SECONDS)
        try:
            worker.app.send_task(SWEEP_WATCH_TASK, expires=interval, retry=False)
        except Exception as error:  # noqa: BLE001 - a broker outage is reported elsewhere; the next tick retries
            log.warning("could not queue the renewal-sweep watch: %s", error)
