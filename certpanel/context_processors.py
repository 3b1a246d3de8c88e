from django.http import HttpRequest

from certpanel.heartbeat import heartbeat_last_seen, worker_is_stale


def panel(request: HttpRequest) -> dict[str, object]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    last_seen = heartbeat_last_seen()
    return {"worker_last_seen": last_seen, "worker_stale": worker_is_stale(last_seen)}
