"""Project-level pages: health check (no login) and error pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from certpanel.heartbeat import heartbeat_last_seen, worker_is_stale
from certpanel.middleware import size_label
from certpanel.notifications import undelivered_summary
from repository.acme.sweep_watch import sweep_state


@login_not_required
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers and monitoring: 200 when the database answers, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        last_seen = heartbeat_last_seen()
        sweep = sweep_state()  # read only: the worker checks and emails
        undelivered = undelivered_summary()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse(
        {
            "status": "ok",
            "database": "ok",
            "worker_last_seen": last_seen.isoformat() if last_seen else None,
            "worker_ok": not worker_is_stale(last_seen),
            "last_renewal_sweep": sweep.last_sweep.isoformat() if sweep.last_sweep else None,
            "renewal_sweep_ok": not sweep.stalled,
            "notifications_undelivered": undelivered.count if undelivered else 0,
        }
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A Host the panel does not answer to (ALLOWED_HOSTS), else most likely RequestDataTooBig: say which."""
    context = {
        "unknown_host": isinstance(exception, DisallowedHost),
        "upload_limit": size_label(settings.CERTPANEL_MAX_UPLOAD_BYTES),
    }
    return render(request, "400.html", context, status=400)
