"""Reads for the dashboard: a fixed number of queries whatever the number of certificates and listeners.

The schedule policy's "expiring" threshold (1 query), counts and timeline (1 on PostgreSQL, 2 elsewhere: at most
STACK rows a day, with each day's total), services matrix (1), recent failures (2: orders, deployments; failing
probes come from the matrix rows), certificates to re-issue at a CA (1). The health of the worker, beat, broker and
the outbox (undelivered emails) is what certpanel/context_processors.py already reads for every page's banners: the
template uses those values, nothing is read twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, F, Func, IntegerField, Q
from django.db.models.expressions import RowRange, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone

from certpanel.dashboard.timeline import DAYS, STACK, Row, Timeline, timeline_layout
from repository.models import AcmeOrder, Certificate, OrderStatus
from repository.pki.dates import public_ca_validity_note
from repository.policy import schedule_policy
from repository.selectors import certificates_reissue_due
from services.models import Deployment, DeploymentStatus, Listener

RECENT = 5
RED_DAYS = 7  # a listener whose certificate ends within a week is red, whatever the probe said


@dataclass(frozen=True)
class StatusCount:
    key: str  # the certificate list's ?status= value
    label: str
    count: int


def _count_totals(*, now: datetime, expiring_days: int) -> dict[str, int]:
    """Any database: one pass over the table, one conditional count each (cheaper than grouping by the status
    expression, which PostgreSQL hashes a text a row for). The rules are repository.selectors.status_expression's,
    which the list's counts use; tests hold the two to the same numbers."""
    soon = now + timedelta(days=expiring_days)
    expiring = Q(not_after__gte=now, not_after__lt=soon) & (Q(expiring_from__isnull=True) | Q(expiring_from__lte=now))
    totals: dict[str, int] = Certificate.objects.aggregate(
        all=Count("pk"),
        pending=Count("pk", filter=Q(not_after__isnull=True)),
        expired=Count("pk", filter=Q(not_after__lt=now)),
        expiring=Count("pk", filter=expiring),
        failing=Count("pk", filter=Q(renewal_failures__gt=0)),
    )
    return totals


def _status_counts(totals: dict[str, int], *, expiring_days: int) -> list[StatusCount]:
    valid = totals["all"] - totals["pending"] - totals["expired"] - totals["expiring"]
    labels = {
        "valid": "Valid",
        "expiring": f"Expiring ≤ {expiring_days} days",
        "expired": "Expired",
        "failing": "Renewal failing",
        "pending": "Pending CSR",
    }
    return [StatusCount(key, label, valid if key == "valid" else totals[key]) for key, label in labels.items()]


def certificate_counts(*, now: datetime, expiring_days: int) -> list[StatusCount]:
    """Certificates by status and those whose renewal is failing (any database: one query)."""
    return _status_counts(_count_totals(now=now, expiring_days=expiring_days), expiring_days=expiring_days)


class UtcDay(Func):
    """The UTC day of a timestamp, in SQL the database runs natively (the timeline's columns): Django's TruncDate
    is a Python function a row on SQLite, too slow for 10,000 rows. Only compared, never read."""

    output_field = IntegerField()
    template = "((%(expressions)s AT TIME ZONE 'UTC')::date)"  # PostgreSQL

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, Any]:
        template = "CAST(julianday(%(expressions)s) - 2440587.5 AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


# PostgreSQL: the count tiles and the timeline in one query. One pass over the table grouped by UTC day gives each
# day's counts by status (summed for the tiles) and its timeline total; then each timeline day's first STACK come
# through the not_after index (a LATERAL join, LIMIT STACK a day): about 500 rows read instead of sorting and
# ranking every row of the window, which was most of the dashboard's time with 10,000 certificates. A day's counts
# repeat on each of its marks' rows and are taken once. Same numbers and rows as certificate_counts and the window
# query (tested).
OVERVIEW_SQL = """
WITH days AS (
    SELECT (c.not_after AT TIME ZONE 'UTC')::date AS day,
           count(*) AS certificates,
           count(*) FILTER (WHERE c.not_after < %(now)s) AS expired,
           count(*) FILTER (WHERE c.not_after >= %(now)s AND c.not_after < %(soon)s
                            AND (c.expiring_from IS NULL OR c.expiring_from <= %(now)s)) AS expiring,
           count(*) FILTER (WHERE c.renewal_failures > 0) AS failing,
           count(*) FILTER (WHERE c.not_after >= %(now)s AND c.not_after < %(end)s AND c.id NOT IN (
               SELECT r.renewed_from_id FROM {table} r WHERE r.renewed_from_id IS NOT NULL)) AS shown
    FROM {table} c
    GROUP BY 1
)
SELECT d.day, d.certificates, d.expired, d.expiring, d.failing,
       first.id, first.name, first.not_after, first.renew_at, d.shown
FROM days d LEFT JOIN LATERAL (
    SELECT c.id, c.name, c.not_after, c.renew_at
    FROM {table} c
    WHERE d.shown > 0
      AND c.not_after >= GREATEST(%(now)s, d.day::timestamp AT TIME ZONE 'UTC')
      AND c.not_after < LEAST(%(end)s, (d.day + 1)::timestamp AT TIME ZONE 'UTC')
      AND NOT EXISTS (SELECT 1 FROM {table} r WHERE r.renewed_from_id = c.id)
    ORDER BY c.not_after, c.id
    LIMIT %(stack)s
) AS first ON true
ORDER BY d.day NULLS FIRST, first.not_after, first.id
"""


def _overview_postgresql(*, now: datetime, expiring_days: int) -> tuple[dict[str, int], list[Row]]:
    params: dict[str, datetime | int] = {
        "now": now,
        "soon": now + timedelta(days=expiring_days),
        "end": now + timedelta(days=DAYS),
        "stack": STACK,
    }
    with connection.cursor() as cursor:
        cursor.execute(OVERVIEW_SQL.format(table=connection.ops.quote_name(Certificate._meta.db_table)), params)
        found: list[tuple[Any, ...]] = cursor.fetchall()
    totals = dict.fromkeys(("all", "pending", "expired", "expiring", "failing"), 0)
    rows: list[Row] = []
    last_day: object = ...  # no day yet (None is the pending CSRs' day: one row, no mark)
    for day, certificates, expired, expiring, failing, *mark in found:
        if day != last_day:  # the first row of its day: its counts
            last_day = day
            totals["all"] += certificates
            totals["pending"] += certificates if day is None else 0
            totals["expired"] += expired
            totals["expiring"] += expiring
            totals["failing"] += failing
        if mark[0] is not None:
            rows.append(Row._make(mark))
    return totals, rows


def _timeline_rows_window(*, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """Any database: one query that keeps at most STACK a day and counts each day's total with window functions."""
    day = UtcDay("not_after")
    order = [F("not_after").asc(), F("id").asc()]
    # Replaced ones left out through the few ids renewals point at (a hashed subplan), not a join of every row.
    replaced = Certificate.objects.filter(renewed_from__isnull=False).values("renewed_from")
    rows = (
        Certificate.objects.filter(not_after__gte=start, not_after__lt=end)
        .exclude(pk__in=replaced)
        .annotate(
            # One partition and one order for both: the database sorts once.
            rank=Window(RowNumber(), partition_by=[day], order_by=order),
            day_total=Window(Count("id"), partition_by=[day], order_by=order, frame=RowRange(None, None)),
        )
        .filter(rank__lte=STACK)
        .order_by("not_after", "id")
        .values_list("id", "name", "not_after", "renew_at", "day_total")
    )
    return list(rows)


def expiry_timeline(*, now: datetime, expiring_days: int) -> Timeline:
    """Certificates expiring in the next DAYS days (not those already replaced by a renewal), at most STACK a day
    with each day's total (any database: one query)."""
    rows = _timeline_rows_window(start=now, end=now + timedelta(days=DAYS))
    return timeline_layout(map(Row._make, rows), today=now.date(), expiring_days=expiring_days)


def certificates_overview(*, now: datetime, expiring_days: int) -> tuple[list[StatusCount], Timeline]:
    """The count tiles and the expiry timeline: one query on PostgreSQL, two elsewhere."""
    if connection.vendor != "postgresql":
        return certificate_counts(now=now, expiring_days=expiring_days), expiry_timeline(
            now=now, expiring_days=expiring_days
        )
    totals, rows = _overview_postgresql(now=now, expiring_days=expiring_days)
    timeline = timeline_layout(rows, today=now.date(), expiring_days=expiring_days)
    return _status_counts(totals, expiring_days=expiring_days), timeline


@dataclass(frozen=True)
class Light:
    """A listener's colour on the dashboard and the one reason for it."""

    colour: str  # red | amber | green
    reason: str


def _first_problem(report: list[dict[str, Any]]) -> str:
    for result in report or []:
        if isinstance(result, dict) and not result.get("ok"):
            name = result.get("server_name") or "the port"
            return f"{name}: {result.get('error') or 'not the assigned certificate'}"
    return "the last check failed"


def listener_light(listener: Listener, *, now: datetime, expiring_days: int) -> Light:
    """The worst of: no certificate, a pending CSR, expired, the last probe failing, days left; then whether it
    was ever verified. (The services pages have their own one-reason function; unify at merge.)"""
    certificate = listener.certificate
    if certificate is None:
        return Light("amber", "No certificate assigned")
    if certificate.not_after is None:
        return Light("red", "Its certificate is a CSR still waiting for the CA")
    if certificate.not_after < now:
        return Light("red", f"Its certificate expired on {certificate.not_after:%Y-%m-%d}")
    if listener.last_verify_ok is False:
        return Light("red", f"Last verification failed — {_first_problem(listener.last_report)}")
    left = (certificate.not_after - now).days
    if left < RED_DAYS:
        return Light("red", f"Its certificate expires in {left} day{'s' if left != 1 else ''}")
    if left < expiring_days:
        return Light("amber", f"Its certificate expires in {left} days")
    if listener.last_verified_at is None:
        return Light("amber", "Never verified")
    return Light("green", "Serves its certificate")


@dataclass(frozen=True)
class MatrixRow:
    listener: Listener
    days_left: int | None
    light: Light
    listener_url: str
    certificate_url: str
    verified: str  # "2026-01-31 12:00 ok", "… failed", or "" when never


def _verified(listener: Listener) -> str:
    """Formatted here, not with the template's date filter: 100 rows of it are a tenth of the page's time."""
    if listener.last_verified_at is None:
        return ""
    outcome = "ok" if listener.last_verify_ok else "failed"
    return f"{timezone.localtime(listener.last_verified_at):%Y-%m-%d %H:%M} {outcome}"


def url_pattern(name: str) -> str:
    """A URL of ``name`` with ``{}`` for its one id: reversed once, not once a row."""
    return reverse(name, args=[0]).replace("/0/", "/{}/")


def services_matrix(*, now: datetime, expiring_days: int) -> list[MatrixRow]:
    """Every listener with its certificate (one query), days left and its light."""
    listeners = Listener.objects.select_related("certificate").only(
        "id",
        "name",
        "protocol",
        "host",
        "port",
        "last_verified_at",
        "last_verify_ok",
        "last_report",
        "verify_queued_at",
        "certificate__id",
        "certificate__name",
        "certificate__not_after",
    )
    listener_url, certificate_url = url_pattern("services:detail"), url_pattern("repository:detail")
    rows = []
    for listener in listeners:
        certificate = listener.certificate
        days_left = (certificate.not_after - now).days if certificate and certificate.not_after else None
        rows.append(
            MatrixRow(
                listener,
                days_left,
                listener_light(listener, now=now, expiring_days=expiring_days),
                listener_url.format(listener.pk),
                certificate_url.format(certificate.pk) if certificate else "",
                _verified(listener),
            )
        )
    return rows


@dataclass(frozen=True)
class Failures:
    orders: list[AcmeOrder]
    deployments: list[Deployment]
    probes: list[MatrixRow]

    @property
    def any(self) -> bool:
        return bool(self.orders or self.deployments or self.probes)


def recent_failures(matrix: list[MatrixRow]) -> Failures:
    """The newest RECENT failed orders and failed or rolled-back deployments (2 queries), and the listeners whose
    last probe failed (from the matrix). Undelivered emails: the context processor's ``undelivered`` summary."""
    orders = AcmeOrder.objects.filter(status=OrderStatus.FAILED).only("id", "hostnames", "error", "updated_at")
    deployments = (
        Deployment.objects.filter(status__in=[DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK])
        .select_related("listener")
        .only("id", "status", "error", "started_at", "finished_at", "listener__id", "listener__name")
    )
    probes = [row for row in matrix if row.listener.last_verify_ok is False]
    probes.sort(key=lambda row: row.listener.last_verified_at or timezone.now(), reverse=True)
    return Failures(
        orders=list(orders.order_by("-updated_at", "-id")[:RECENT]),
        deployments=list(deployments.order_by("-started_at", "-id")[:RECENT]),
        probes=probes[:RECENT],
    )


def last_verification(matrix: list[MatrixRow]) -> datetime | None:
    return max((row.listener.last_verified_at for row in matrix if row.listener.last_verified_at), default=None)


def dashboard(*, now: datetime | None = None) -> dict[str, object]:
    now = now or timezone.now()
    expiring_days = schedule_policy().expiring_days
    matrix = services_matrix(now=now, expiring_days=expiring_days)
    counts, timeline = certificates_overview(now=now, expiring_days=expiring_days)
    return {
        "counts": counts,
        "timeline": timeline,
        "matrix": matrix,
        "failures": recent_failures(matrix),
        "last_verification": last_verification(matrix),
        "reissue": certificates_reissue_due(now=now),
        "reissue_note": public_ca_validity_note(now.date()),
        "now": now,
    }
