from django.http import HttpRequest

from certpanel.access.gate import twofactor_pending
from certpanel.dispatch import broker_label, broker_outage
from certpanel.heartbeat import heartbeat_last_seen, worker_is_stale
from certpanel.navigation import nav_items
from certpanel.notifications import undelivered_summary
from certpanel.roles import may_administer, may_change, may_export_keys, role_of
from repository.acme.sweep_watch import sweep_state


def panel(request: HttpRequest) -> dict[str, object]:
    """What every page shows about the background machinery. Only reads: a page never writes or sends."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    if twofactor_pending(request):
        return {"twofactor_pending": True}  # nothing of the panel before the second factor
    last_seen = heartbeat_last_seen()
    sweep = sweep_state()
    return {
        "nav_items": nav_items(request),
        # What the page may offer (certpanel/roles.py); the views refuse the rest with a 403 all the same.
        "role": role_of(request.user),
        "may_change": may_change(request.user),
        "may_administer": may_administer(request.user),
        "may_export_keys": may_export_keys(request.user),
        "worker_last_seen": last_seen,
        "worker_stale": worker_is_stale(last_seen),
        "sweep_stalled": sweep.stalled,
        "sweep_last": sweep.last_sweep,
        "broker_outage": broker_outage(),
        "broker_label": broker_label(),
        "undelivered": undelivered_summary(),
    }
