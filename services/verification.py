"""Verifying listeners: probe what each port serves, concurrently, store the report and alert on a change.

"Verify all" and the periodic sweep run here in a worker (services/tasks.py); a page only marks listeners as
queued (``verify_queued_at``) and shows the stored results. Beat runs the sweep every few minutes; it probes the
listeners whose last verification is older than the admin's probe interval (repository/policy.py), so a new
interval holds from the next sweep, and a listener just verified after a deployment waits a whole interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from services.alerts import listener_alert_update
from services.deploy import server_name_of
from services.models import Listener, RunStatus, VerificationRun
from services.probes.report import ProbeResult
from services.probes.run import ProbeTarget, probe_many

# Every name of every listener at once: a probe mostly waits on a socket, and the slowest port bounds the whole.
CONCURRENCY = 32
# Run records (the Jobs page) are kept this long, and never more than KEEP_RUNS of them.
KEEP_RUNS_FOR = timedelta(days=30)
KEEP_RUNS = 1000


def report_of(result: ProbeResult) -> dict[str, Any]:
    data = asdict(result)
    data.pop("served_chain_pem", None)
    data["not_after"] = result.not_after.isoformat() if result.not_after else None
    return data


def listener_report_store(listener: Listener, results: list[ProbeResult]) -> None:
    listener.last_verified_at = timezone.now()
    listener.last_verify_ok = all(r.ok for r in results)
    listener.last_report = [report_of(r) for r in results]
    listener.verify_queued_at = None
    listener.save(update_fields=["last_verified_at", "last_verify_ok", "last_report", "verify_queued_at"])


def _probe_targets(listener: Listener) -> list[ProbeTarget]:
    found = [(server_name_of(listener), listener.certificate)]
    found += [(s.server_name, s.certificate) for s in listener.sni.select_related("certificate")]
    return [
        ProbeTarget(
            listener.host, listener.port, listener.protocol, name, certificate.fingerprint_sha256 if certificate else ""
        )
        for name, certificate in found
    ]


def run_log_line(listener: Listener, results: list[ProbeResult]) -> str:
    """One line of a verification run's log: the listener and what its probes found."""
    failing = [f"{r.server_name}: {r.error or 'not ok'}" for r in results if not r.ok]
    verdict = "; ".join(failing) if failing else "ok"
    return f"{listener.name} ({listener.host}:{listener.port}): {verdict}"


def listeners_verify(listeners: Sequence[Listener], *, trigger: str = "manual") -> dict[int, list[ProbeResult]]:
    """Probe every name of every listener concurrently; store each report; alert once per incident, and on
    recovery. The run is recorded as a VerificationRun (its log one line per listener) for the Jobs page; probing
    nothing (no listener has a certificate) records nothing."""
    if not listeners:
        return {}
    run = VerificationRun.objects.create(trigger=trigger[:40], listener_ids=[listener.pk for listener in listeners])
    wanted = {listener.pk: _probe_targets(listener) for listener in listeners}
    flat = [target for targets in wanted.values() for target in targets]
    by_listener: dict[int, list[ProbeResult]] = {}
    lines: list[str] = []
    try:
        results = iter(probe_many(flat, max_workers=CONCURRENCY)) if flat else iter([])
        for listener in listeners:
            by_listener[listener.pk] = [next(results) for _ in wanted[listener.pk]]
            listener_report_store(listener, by_listener[listener.pk])
            listener_alert_update(listener, by_listener[listener.pk])
            lines.append(run_log_line(listener, by_listener[listener.pk]))
    except BaseException as error:
        lines.append(f"the run stopped: {str(error) or type(error).__name__}")
        passed = sum(1 for results_of in by_listener.values() if all(r.ok for r in results_of))
        _run_finish(run, lines, failed=len(listeners) - passed, status=RunStatus.FAILED)
        raise
    failed = sum(1 for results_of in by_listener.values() if not all(r.ok for r in results_of))
    _run_finish(run, lines, failed=failed, status=RunStatus.FAILED if failed else RunStatus.DONE)
    return by_listener


def _run_finish(run: VerificationRun, lines: list[str], *, failed: int, status: str) -> None:
    run.log = "\n".join(lines)
    run.failed = max(failed, 0)
    run.status = status
    run.finished_at = timezone.now()
    run.save(update_fields=["log", "failed", "status", "finished_at"])


def verification_runs_prune(*, now: datetime | None = None) -> int:
    """Runs older than KEEP_RUNS_FOR, and any beyond the newest KEEP_RUNS, deleted (the verify sweep calls it)."""
    cutoff = (now or timezone.now()) - KEEP_RUNS_FOR
    deleted = VerificationRun.objects.filter(started_at__lt=cutoff).delete()[0]
    oldest_kept = VerificationRun.objects.order_by("-started_at", "-id").values_list("started_at", flat=True)
    boundary = oldest_kept[KEEP_RUNS - 1 : KEEP_RUNS].first()
    if boundary is not None:
        deleted += VerificationRun.objects.filter(started_at__lt=boundary).delete()[0]
    return int(deleted)


def listener_verify(listener: Listener) -> list[ProbeResult]:
    return listeners_verify([listener])[listener.pk]


def listeners_mark_queued(listener_ids: Sequence[int]) -> int:
    """The page's "verification queued" state, until the worker stores the result."""
    return Listener.objects.filter(pk__in=listener_ids).update(verify_queued_at=timezone.now())


def listeners_verify_due(now: datetime, *, interval: timedelta) -> list[Listener]:
    """Listeners with a certificate whose last verification is older than ``interval`` (or that never had one),
    leaving out those already queued (the deployment sweep takes those up): one query for the sweep."""
    return list(
        Listener.objects.filter(certificate__isnull=False, verify_queued_at__isnull=True)
        .filter(Q(last_verified_at__isnull=True) | Q(last_verified_at__lte=now - interval))
        .select_related("certificate")
    )


def listeners_verify_stale(now: datetime) -> list[int]:
    """Queued verifications no worker reported on (the broker was down, say): the sweep queues them again."""
    grace = now - timedelta(seconds=settings.CERTPANEL_DEPLOY_SWEEP_SECONDS)
    return list(Listener.objects.filter(verify_queued_at__lt=grace).values_list("pk", flat=True))
