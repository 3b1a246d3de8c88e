"""The renewal sweep's history for the Jobs page: one SweepRun row per sweep, pruned by the sweep itself.

Liveness is not read from here: the ``renewal-sweep`` heartbeat (sweep_watch.py) stays the one signal the
banner and the stall email use. These rows only say what each sweep queued, or why it failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from repository.models import SweepRun, SweepRunStatus

KEEP_FOR = timedelta(days=30)
KEEP = 1000


def sweep_run_start() -> SweepRun:
    return SweepRun.objects.create()


def sweep_run_finish(run: SweepRun, *, summary: dict[str, int] | None = None, error: str = "") -> None:
    run.status = SweepRunStatus.FAILED if error else SweepRunStatus.DONE
    run.summary = summary or {}
    run.error = error[:2000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "summary", "error", "finished_at"])


def sweep_runs_prune(*, now: datetime | None = None) -> int:
    """Rows older than KEEP_FOR, and any beyond the newest KEEP, deleted."""
    deleted = SweepRun.objects.filter(started_at__lt=(now or timezone.now()) - KEEP_FOR).delete()[0]
    newest = SweepRun.objects.order_by("-started_at", "-id").values_list("started_at", flat=True)
    boundary = newest[KEEP - 1 : KEEP].first()
    if boundary is not None:
        deleted += SweepRun.objects.filter(started_at__lt=boundary).delete()[0]
    return int(deleted)
