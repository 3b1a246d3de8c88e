"""Reads for the services page and CLI."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from services.daemons import ADAPTERS
from services.daemons.base import SnippetContext
from services.deploy import listener_files, server_name_of
from services.errors import ListenerNotFound
from services.models import FINAL_DEPLOYMENT_STATUSES, Deployment, Listener, SniCertificate


def listener_list() -> QuerySet[Listener]:
    return Listener.objects.select_related("certificate").prefetch_related(
        Prefetch("sni", queryset=SniCertificate.objects.select_related("certificate"))
    )


def listener_get(name_or_id: str | int) -> Listener:
    queryset = listener_list()
    found = queryset.filter(pk=int(name_or_id)).first() if str(name_or_id).isdigit() else None
    found = found or queryset.filter(name=str(name_or_id)).first()
    if found is None:
        raise ListenerNotFound(f"There is no listener '{name_or_id}' (see `services list`).")
    return found


def listener_snippet(listener: Listener) -> str:
    context = SnippetContext(
        name=listener.name,
        protocol=listener.protocol,
        port=listener.port,
        server_name=server_name_of(listener),
        files=listener_files(listener),
        sni=[(s.server_name, listener_files(listener, sni_name=s.server_name)) for s in listener.sni.all()],
    )
    return ADAPTERS[listener.daemon].snippet(context)


def listener_as_dict(listener: Listener) -> dict[str, Any]:
    return {
        "id": listener.pk,
        "name": listener.name,
        "protocol": listener.protocol,
        "host": listener.host,
        "port": listener.port,
        "server_name": server_name_of(listener),
        "daemon": listener.daemon,
        "certificate_id": listener.certificate_id,
        "certificate": listener.certificate.name if listener.certificate else None,
        "sni": {s.server_name: s.certificate_id for s in listener.sni.all()},
        "files": listener_files(listener).paths,
        "owner": listener.owner,
        "group": listener.group,
        "action": listener.action,
        "check_cmd": listener.check_cmd,
        "reload_cmd": listener.reload_cmd,
        "last_verified_at": listener.last_verified_at.isoformat() if listener.last_verified_at else None,
        "last_verify_ok": listener.last_verify_ok,
    }


def deployments_recent(listener: Listener, limit: int = 10) -> list[Deployment]:
    return list(listener.deployments.all()[:limit])


def deployments_active() -> dict[int, Deployment]:
    """The newest unfinished deployment of each listener, for the "deploying" state on the services page."""
    active: dict[int, Deployment] = {}
    for deployment in Deployment.objects.exclude(status__in=FINAL_DEPLOYMENT_STATUSES).order_by("started_at", "id"):
        active[deployment.listener_id] = deployment
    return active
