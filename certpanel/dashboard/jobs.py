"""Reads for the Jobs page: every background job of every kind, as one list, newest first.

Each kind is its own table; a page merges them. For page N each kind gives at most N * PAGE + 1 of its newest
matching rows (one query a kind, seven in all), the merge sorts them and the page is cut out, so the cost grows
with how deep one pages, not with how many rows are stored (MAX_PAGE bounds it; filter to go further).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Model, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.urls import reverse

from certpanel.models import Notification
from repository.models import (
    ACTIVE_STATUSES,
    AcmeOrder,
    AcmeRegistration,
    ChainFetch,
    ChainFetchStatus,
    OrderStatus,
    RegistrationStatus,
    SweepRun,
)
from services.models import FINAL_DEPLOYMENT_STATUSES, Deployment, DeploymentStatus, VerificationRun

PAGE = 50
MAX_PAGE = 20
STATUSES = ("failed", "running", "done")


@dataclass(frozen=True)
class Job:
    kind: str
    pk: int
    subject: str
    status: str  # failed | running | done
    detail: str  # the kind's own word for it
    started: datetime
    finished: datetime | None
    started_by: str
    url: str
    retry: str = ""  # the retry button's label, when a failed one can be retried

    @property
    def duration(self) -> timedelta | None:
        return self.finished - self.started if self.finished else None

    @property
    def label(self) -> str:
        return KINDS[self.kind].label


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    model: type[Model]
    started: str  # the field a row is sorted by
    statuses: dict[str, Q]
    search: Callable[[QuerySet[Any], str], QuerySet[Any]]
    job: Callable[[Any], Job]
    related: tuple[str, ...] = ()


def _user(user: Any, fallback: str) -> str:
    return user.get_username() if user is not None else fallback


def _order(row: AcmeOrder) -> Job:
    failed = row.status == OrderStatus.FAILED
    return Job(
        kind="order",
        pk=row.pk,
        subject=", ".join(row.hostnames),
        status="failed" if failed else "done" if row.status == OrderStatus.ISSUED else "running",
        detail=row.get_status_display(),
        started=row.created_at,
        finished=row.updated_at if not row.is_active else None,
        started_by=_user(row.created_by, "renewal sweep" if row.replaces_id else "command line"),
        url=reverse("repository:order", args=[row.pk]),
        retry="Order again" if failed else "",
    )


def _registration(row: AcmeRegistration) -> Job:
    return Job(
        kind="registration",
        pk=row.pk,
        subject=f"{row.name or row.email or 'account'} at {row.directory_url}",
        status={"failed": "failed", "registered": "done"}.get(row.status, "running"),
        detail=row.get_status_display(),
        started=row.created_at,
        finished=row.updated_at if row.status != RegistrationStatus.QUEUED else None,
        started_by=_user(row.created_by, "command line"),
        url=reverse("jobs_detail", args=["registration", row.pk]),
    )


def _deployment(row: Deployment) -> Job:
    failed = row.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK)
    return Job(
        kind="deployment",
        pk=row.pk,
        subject=row.listener.name,
        status="failed" if failed else "done" if row.status == DeploymentStatus.SUCCEEDED else "running",
        detail=row.get_status_display(),
        started=row.started_at,
        finished=row.finished_at,
        started_by=row.trigger,
        url=reverse("jobs_detail", args=["deployment", row.pk]),
        retry="Redeploy" if failed else "",
    )


TRIGGERS = {"manual": "Verify button", "schedule": "schedule"}


def _verification(row: VerificationRun) -> Job:
    count = len(row.listener_ids)
    return Job(
        kind="verification",
        pk=row.pk,
        subject=f"{count} listener{'s' if count != 1 else ''}" + (f", {row.failed} failing" if row.failed else ""),
        status=str(row.status),
        detail=row.get_status_display(),
        started=row.started_at,
        finished=row.finished_at,
        started_by=TRIGGERS.get(row.trigger, row.trigger),
        url=reverse("jobs_detail", args=["verification", row.pk]),
        retry="Verify again" if row.status == "failed" and row.listener_ids else "",
    )


def _sweep(row: SweepRun) -> Job:
    summary = ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in (row.summary or {}).items())
    return Job(
        kind="sweep",
        pk=row.pk,
        subject=f"renewal sweep{': ' + summary if summary else ''}",
        status=str(row.status),
        detail=row.get_status_display(),
        started=row.started_at,
        finished=row.finished_at,
        started_by="schedule",
        url=reverse("jobs_detail", args=["sweep", row.pk]),
    )


def _chain_fetch(row: ChainFetch) -> Job:
    return Job(
        kind="chain",
        pk=row.pk,
        subject=row.certificate.name,
        status={"failed": "failed", "done": "done"}.get(row.status, "running"),
        detail=row.get_status_display(),
        started=row.created_at,
        finished=row.updated_at if row.status != ChainFetchStatus.QUEUED else None,
        started_by="certificate upload",
        url=reverse("jobs_detail", args=["chain", row.pk]),
    )


def _email(row: Notification) -> Job:
    failed = row.status == Notification.Status.PENDING and bool(row.last_error)
    sent = row.status == Notification.Status.SENT
    return Job(
        kind="email",
        pk=row.pk,
        subject=row.subject,
        status="failed" if failed else "done" if sent else "running",
        detail="not delivered" if failed else row.get_status_display(),
        started=row.created_at,
        finished=row.sent_at if sent else row.last_attempt_at if failed else None,
        started_by=row.kind.replace("_", " "),
        url=reverse("jobs_detail", args=["email", row.pk]),
        retry="Resend" if failed else "",
    )


def _text(*fields: str) -> Callable[[QuerySet[Any], str], QuerySet[Any]]:
    def search(queryset: QuerySet[Any], text: str) -> QuerySet[Any]:
        found = Q()
        for field in fields:
            found |= Q(**{f"{field}__icontains": text})
        return queryset.filter(found)

    return search


def _order_search(queryset: QuerySet[Any], text: str) -> QuerySet[Any]:
    found: QuerySet[Any] = queryset.annotate(names_text=Cast("hostnames", TextField()))
    return found.filter(Q(names_text__icontains=text) | Q(error__icontains=text))


KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        Kind(
            "order",
            "ACME order",
            AcmeOrder,
            "created_at",
            {
                "failed": Q(status=OrderStatus.FAILED),
                "done": Q(status=OrderStatus.ISSUED),
                "running": Q(status__in=ACTIVE_STATUSES),
            },
            _order_search,
            _order,
            ("created_by",),
        ),
        Kind(
            "registration",
            "ACME registration",
            AcmeRegistration,
            "created_at",
            {
                "failed": Q(status=RegistrationStatus.FAILED),
                "done": Q(status=RegistrationStatus.REGISTERED),
                "running": Q(status=RegistrationStatus.QUEUED),
            },
            _text("directory_url", "name", "email", "error"),
            _registration,
            ("created_by",),
        ),
        Kind(
            "deployment",
            "Deployment",
            Deployment,
            "started_at",
            {
                "failed": Q(status__in=[DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK]),
                "done": Q(status=DeploymentStatus.SUCCEEDED),
                "running": ~Q(status__in=FINAL_DEPLOYMENT_STATUSES),
            },
            _text("listener__name", "trigger", "error"),
            _deployment,
            ("listener",),
        ),
        Kind(
            "verification",
            "Verification",
            VerificationRun,
            "started_at",
            {status: Q(status=status) for status in STATUSES},
            _text("trigger", "log"),
            _verification,
        ),
        Kind(
            "sweep",
            "Renewal sweep",
            SweepRun,
            "started_at",
            {status: Q(status=status) for status in STATUSES},
            _text("error"),
            _sweep,
        ),
        Kind(
            "chain",
            "Chain fetch",
            ChainFetch,
            "created_at",
            {
                "failed": Q(status=ChainFetchStatus.FAILED),
                "done": Q(status=ChainFetchStatus.DONE),
                "running": Q(status=ChainFetchStatus.QUEUED),
            },
            _text("certificate__name"),
            _chain_fetch,
            ("certificate",),
        ),
        Kind(
            "email",
            "Email",
            Notification,
            "created_at",
            {
                "failed": Q(status=Notification.Status.PENDING) & ~Q(last_error=""),
                "done": Q(status=Notification.Status.SENT),
                "running": Q(status=Notification.Status.PENDING, last_error=""),
            },
            _text("subject", "kind", "last_error"),
            _email,
        ),
    )
}

# Columns a list row needs (never a PEM, a key or an email body).
_DEFER: dict[str, tuple[str, ...]] = {
    "email": ("body_text", "body_html"),
    "chain": ("certificate__certificate_pem", "certificate__chain_pem", "certificate__csr_pem"),
    "deployment": ("plan", "log"),
    "registration": ("eab_hmac_sealed", "ca_bundle_pem"),
    "verification": ("log",),
}


def _rows(kind: Kind, *, status: str, text: str, limit: int) -> Iterable[Job]:
    queryset = kind.model._default_manager.select_related(*kind.related).defer(*_DEFER.get(kind.key, ()))
    if status in kind.statuses:
        queryset = queryset.filter(kind.statuses[status])
    if text:
        queryset = kind.search(queryset, text)
    return [kind.job(row) for row in queryset.order_by(f"-{kind.started}", "-pk")[:limit]]


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def busy(self) -> bool:
        """Something on the page is still running: the table refreshes itself."""
        return any(job.status == "running" for job in self.jobs)


def jobs_page(*, kind: str = "", status: str = "", text: str = "", page: int = 1) -> JobPage:
    """One page of jobs, newest first, of one kind or all; ``status`` failed/running/done; ``text`` searched in
    each kind's subject and error."""
    page = min(max(page, 1), MAX_PAGE)
    limit = page * PAGE + 1
    kinds = [KINDS[kind]] if kind in KINDS else list(KINDS.values())
    lists = [_rows(each, status=status, text=text[:200], limit=limit) for each in kinds]
    merged = list(heapq.merge(*lists, key=lambda job: (job.started, job.pk), reverse=True))
    return JobPage(merged[(page - 1) * PAGE : page * PAGE], page, len(merged) > page * PAGE and page < MAX_PAGE)


def job_get(kind: str, pk: int) -> tuple[Job, Model]:
    """One job and its row (for its log); LookupError when there is none."""
    if kind not in KINDS:
        raise LookupError(kind)
    found = KINDS[kind]
    row = found.model._default_manager.select_related(*found.related).filter(pk=pk).first()
    if row is None:
        raise LookupError(f"{kind} #{pk}")
    return found.job(row), row
