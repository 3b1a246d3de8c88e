"""Reads for the services page and CLI."""

from __future__ import annotations

from typing import Any, TypedDict

from django.db.models import Prefetch, QuerySet

from repository.errors import NotFoundError
from repository.models import Certificate
from repository.selectors import certificate_get, certificate_list
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


class ListenerOverview(TypedDict):
    """The services page: every listener, each with its newest unfinished deployment as ``active_deployment``
    (None when idle); ``busy`` while a deployment or a queued verification is under way (the page refreshes)."""

    listeners: list[Listener]
    busy: bool


def listener_overview() -> ListenerOverview:
    listeners = list(listener_list())
    active = deployments_active()
    for listener in listeners:
        listener.active_deployment = active.get(listener.pk)  # type: ignore[attr-defined]  # display-only, read by the list template
    return {"listeners": listeners, "busy": bool(active) or any(item.verify_queued_at for item in listeners)}


class ListenerDetail(TypedDict):
    """A listener's page besides the row: the daemon's config snippet, the last deployments, and ``busy`` while a
    deployment or a queued verification is under way (the page refreshes)."""

    snippet: str
    deployments: list[Deployment]
    busy: bool


def listener_detail(listener: Listener) -> ListenerDetail:
    recent = deployments_recent(listener)
    return {
        "snippet": listener_snippet(listener),
        "deployments": recent,
        "busy": listener.verify_queued_at is not None or any(not d.is_final for d in recent),
    }


def certificates_assignable(*, search: str = "", limit: int = 100) -> QuerySet[Certificate]:
    """What "Select from repository" offers: issued certificates whose key the panel holds."""
    return certificate_list(search=search).exclude(certificate_pem="").exclude(key=None)[:limit]


def certificate_picked(certificate_id: str | None) -> Certificate | None:
    """The certificate picked in that list (None when none is, or it is gone), with its key for the passphrase
    prompt."""
    if not certificate_id:
        return None
    try:
        return certificate_get(certificate_id)
    except NotFoundError:
        return None
