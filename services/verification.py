"""Verifying listeners: probe what each port serves, concurrently, store the report and alert on a change.

"Verify all" and the periodic sweep run here in a worker (services/tasks.py); a page only marks listeners as
queued (``verify_queued_at``) and shows the stored results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from services.alerts import listener_alert_update
from services.deploy import server_name_of
from services.models import Listener
from services.probes.report import ProbeResult
from services.probes.run import ProbeTarget, probe_many

# Every name of every listener at once: a probe mostly waits on a socket, and the slowest port bounds the whole.
CONCURRENCY = 32


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


def listeners_verify(listeners: Sequence[Listener]) -> dict[int, list[ProbeResult]]:
    """Probe every name of every listener concurrently; store each report; alert once per incident, and on
    recovery."""
    wanted = {listener.pk: _probe_targets(listener) for listener in listeners}
    flat = [target for targets in wanted.values() for target in targets]
    results = iter(probe_many(flat, max_workers=CONCURRENCY)) if flat else iter([])
    by_listener: dict[int, list[ProbeResult]] = {}
    for listener in listeners:
        by_listener[listener.pk] = [next(results) for _ in wanted[listener.pk]]
        listener_report_store(listener, by_listener[listener.pk])
        listener_alert_update(listener, by_listener[listener.pk])
    return by_listener


def listener_verify(listener: Listener) -> list[ProbeResult]:
    return listeners_verify([listener])[listener.pk]


def listeners_mark_queued(listener_ids: Sequence[int]) -> int:
    """The page's "verification queued" state, until the worker stores the result."""
    return Listener.objects.filter(pk__in=listener_ids).update(verify_queued_at=timezone.now())


def listeners_verify_stale(now: datetime) -> list[int]:
    """Queued verifications no worker reported on (the broker was down, say): the sweep queues them again."""
    grace = now - timedelta(seconds=settings.CERTPANEL_DEPLOY_SWEEP_SECONDS)
    return list(Listener.objects.filter(verify_queued_at__lt=grace).values_list("pk", flat=True))
