"""Reads for the services page and CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from django.db.models import Max, Prefetch, QuerySet, Subquery
from django.utils import timezone

from repository.errors import NotFoundError
from repository.models import Certificate
from repository.pki.dates import days_left
from repository.selectors import certificate_get, certificate_list
from services.daemons import ADAPTERS
from services.daemons.base import SnippetContext
from services.deploy import listener_files, server_name_of
from services.errors import ListenerNotFound
from services.health import Fitness, days_badge, days_text, deployment_outcome, fitness, one_reason
from services.models import FINAL_DEPLOYMENT_STATUSES, Deployment, DeploymentStatus, Listener, SniCertificate
from services.protocols import BY_CODE, GROUPS, PROTOCOLS, Protocol


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


@dataclass
class ListenerRow:
    """One line of the services page: the listener and what the page says about it."""

    listener: Listener
    protocol: Protocol | None
    days: int | None  # days left of the assigned certificate
    badge: str  # services.health.days_badge
    days_text: str
    last_deployment: Deployment | None
    active_deployment: Deployment | None
    reason: str  # the one reason it is not OK ("" when it is, or was never verified)


@dataclass
class ServiceGroup:
    name: str
    rows: list[ListenerRow]


class ListenerOverview(TypedDict):
    """The services page: the listeners grouped as the mail server's secure ports table (Mail, Webmail, FTP,
    LDAP, then any listener whose protocol the table lacks); ``busy`` while a deployment or a queued verification
    is under way (the page follows it)."""

    groups: list[ServiceGroup]
    busy: bool


def deployments_last() -> dict[int, Deployment]:
    """The newest deployment of each listener, finished or not."""
    newest = Deployment.objects.values("listener").annotate(newest=Max("id")).values("newest")
    return {d.listener_id: d for d in Deployment.objects.filter(pk__in=Subquery(newest))}


def listener_row(
    listener: Listener, *, last: Deployment | None, active: Deployment | None, now: datetime
) -> ListenerRow:
    certificate = listener.certificate
    days = days_left(certificate.not_after, now=now) if certificate and certificate.not_after else None
    failed = ""
    if last is not None and last.status in (DeploymentStatus.ROLLED_BACK, DeploymentStatus.FAILED):
        failed = f"{last.get_status_display()}: {last.error.rstrip('. ')}"
    report = listener.last_report if listener.last_verify_ok is False else []
    reason = one_reason(report, certificate_days=days, failed_deployment=failed)
    if not reason and listener.last_verify_ok is False:
        reason = "the last verification failed"
    if certificate is None:
        reason = "no certificate assigned"
    return ListenerRow(
        listener=listener,
        protocol=BY_CODE.get(listener.protocol),
        days=days,
        badge=days_badge(days),
        days_text=days_text(days),
        last_deployment=last,
        active_deployment=active,
        reason=reason,
    )


def listener_overview(*, now: datetime | None = None) -> ListenerOverview:
    now = now or timezone.now()
    listeners = list(listener_list())
    active, last = deployments_active(), deployments_last()
    rows = [listener_row(item, last=last.get(item.pk), active=active.get(item.pk), now=now) for item in listeners]
    order = {protocol.code: index for index, protocol in enumerate(PROTOCOLS)}
    groups = []
    for name in (*GROUPS, "Other"):
        members = [row for row in rows if (row.protocol.group if row.protocol else "Other") == name]
        members.sort(key=lambda row: (order.get(row.listener.protocol, 99), row.listener.port, row.listener.name))
        if members:
            groups.append(ServiceGroup(name=name, rows=members))
    return {"groups": groups, "busy": bool(active) or any(item.verify_queued_at for item in listeners)}


class ListenerDetail(TypedDict):
    """A listener's page besides the row: the daemon's config snippet, the last deployments (each with its
    outcome in one sentence as ``outcome``), and ``busy`` while a deployment or a queued verification is under
    way (the page follows it)."""

    snippet: str
    deployments: list[Deployment]
    busy: bool
    row: ListenerRow


def deployment_outcome_of(deployment: Deployment) -> str:
    return deployment_outcome(
        status=deployment.status,
        label=deployment.get_status_display(),
        error=deployment.error,
        log=deployment.log,
    )


def deployments_with_outcome(deployments: list[Deployment]) -> list[Deployment]:
    for deployment in deployments:
        deployment.outcome = deployment_outcome_of(deployment)  # type: ignore[attr-defined]  # display-only
    return deployments


def listener_detail(listener: Listener, *, now: datetime | None = None) -> ListenerDetail:
    recent = deployments_with_outcome(deployments_recent(listener))
    active = next((d for d in recent if not d.is_final), None)
    return {
        "snippet": listener_snippet(listener),
        "deployments": recent,
        "busy": listener.verify_queued_at is not None or active is not None,
        "row": listener_row(listener, last=recent[0] if recent else None, active=active, now=now or timezone.now()),
    }


def listener_names(listener: Listener, *, sni_name: str = "") -> list[str]:
    """The names a certificate put there must cover: the SNI domain, else the listener's server_name when one is
    set. A listener without one answers for this host's name, which the page notes without asking to confirm."""
    if sni_name:
        return [sni_name.strip().lower().rstrip(".")]
    return [listener.server_name] if listener.server_name else []


def certificate_fitness(certificate: Certificate, names: list[str], *, now: datetime | None = None) -> Fitness:
    return fitness(
        sans=certificate.sans,
        common_name=certificate.common_name,
        not_before=certificate.not_before,
        not_after=certificate.not_after,
        names=names,
        now=now or timezone.now(),
    )


def certificates_assignable(*, search: str = "", limit: int = 100) -> QuerySet[Certificate]:
    """What "Select from repository" offers: issued certificates whose key the panel holds."""
    return certificate_list(search=search).exclude(certificate_pem="").exclude(key=None)[:limit]


@dataclass
class Offer:
    """A certificate in "Select from repository": ``fit`` says whether it may be chosen, and what to confirm."""

    certificate: Certificate
    fit: Fitness
    current: bool


def certificates_offered(*, names: list[str], current_id: int | None, search: str = "") -> list[Offer]:
    now = timezone.now()
    return [
        Offer(certificate=item, fit=certificate_fitness(item, names, now=now), current=item.pk == current_id)
        for item in certificates_assignable(search=search)
    ]


def certificate_picked(certificate_id: str | None) -> Certificate | None:
    """The certificate picked in that list (None when none is, or it is gone), with its key for the passphrase
    prompt."""
    if not certificate_id:
        return None
    try:
        return certificate_get(certificate_id)
    except NotFoundError:
        return None


# -- replacing a certificate on many listeners at once -----------------------------------------------------
@dataclass
class ReplaceTarget:
    """A listener (``sni`` None) or one of its SNI names that can be given another certificate."""

    key: str  # "listener:<id>" or "sni:<id>", the form's value
    listener: Listener
    sni: SniCertificate | None
    name: str  # the name clients ask for there
    current: Certificate | None
    covered: bool | None  # whether the new certificate covers ``name`` (None: no new certificate chosen yet)
    checked: bool

    @property
    def strict_names(self) -> list[str]:
        return listener_names(self.listener, sni_name=self.sni.server_name if self.sni else "")


def certificate_covers(certificate: Certificate | None, name: str) -> bool | None:
    """Whether its names cover ``name`` (None: no certificate)."""
    if certificate is None:
        return None
    return not fitness(
        sans=certificate.sans,
        common_name=certificate.common_name,
        not_before=None,
        not_after=None,
        names=[name],
        now=timezone.now(),
    ).warnings


def replace_targets(*, source: Certificate | None, new: Certificate | None) -> list[ReplaceTarget]:
    """With ``source``: every listener and SNI name serving it, all checked. Without: every listener and SNI
    name, those whose name ``new`` covers first and checked (e.g. right after an ACME order is issued)."""
    listeners = listener_list()
    snis = SniCertificate.objects.select_related("listener", "certificate").order_by("listener__name", "server_name")
    if source is not None:
        listeners = listeners.filter(certificate=source)
        snis = snis.filter(certificate=source)
    found = [
        ReplaceTarget(f"listener:{item.pk}", item, None, server_name_of(item), item.certificate, None, False)
        for item in listeners
    ]
    found += [ReplaceTarget(f"sni:{s.pk}", s.listener, s, s.server_name, s.certificate, None, False) for s in snis]
    for target in found:
        target.covered = certificate_covers(new, target.name)
        target.checked = source is not None or bool(target.covered)
    if source is None:
        found.sort(key=lambda target: not target.covered)
    return found


def replace_target_get(key: str) -> ReplaceTarget | None:
    kind, _, pk = key.partition(":")
    if not pk.isdigit():
        return None
    if kind == "listener" and (listener := Listener.objects.filter(pk=int(pk)).first()):
        return ReplaceTarget(key, listener, None, server_name_of(listener), None, None, True)
    if kind == "sni" and (sni := SniCertificate.objects.select_related("listener").filter(pk=int(pk)).first()):
        return ReplaceTarget(key, sni.listener, sni, sni.server_name, None, None, True)
    return None


class ReplaceProgress(TypedDict):
    deployments: list[Deployment]
    busy: bool


def replace_progress(deployment_ids: list[int]) -> ReplaceProgress:
    """The deployments a replacement queued, each with its listener's verification, until all are final."""
    found = list(
        Deployment.objects.filter(pk__in=deployment_ids).select_related("listener", "certificate").order_by("pk")
    )
    deployments_with_outcome(found)
    for deployment in found:
        listener = deployment.listener
        reason = one_reason(listener.last_report) if listener.last_verify_ok is False else ""
        deployment.reason = reason  # type: ignore[attr-defined]  # display-only
    busy = any(not d.is_final or d.listener.verify_queued_at is not None for d in found)
    return {"deployments": found, "busy": busy}
