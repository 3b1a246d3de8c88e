"""Reads of the ACME room: what the sweeps pick up and what its pages show. No writes, no network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from repository.acme import schedule
from repository.errors import NotFoundError
from repository.models import (
    ACTIVE_STATUSES,
    AcmeAccount,
    AcmeChallenge,
    AcmeOrder,
    AcmeOrderEvent,
    Certificate,
    CertificateSource,
    RenewalSource,
)
from repository.policy import schedule_policy


# -- what the sweeps pick up -------------------------------------------------------------------------------
def order_alive(now: datetime) -> Q:
    """Progress (a transition) within the order deadline, a lease a worker holds or a retry waits on, or a
    hand-over that waits for the work queue (a new order would only wait behind it: the resume sweep sends it
    once the broker is back)."""
    stalled = now - timedelta(seconds=settings.CERTPANEL_ACME_ORDER_DEADLINE)
    return Q(updated_at__gte=stalled) | Q(lease_until__gte=now) | Q(dispatched_at__isnull=True)


def due_for_renewal(now: datetime) -> QuerySet[Certificate]:
    """The sweep's one indexed query (partial index cert_due_renewal).

    A certificate whose renewal order is alive is skipped; one whose order stopped progressing is due again,
    and the renewal then fails that order as abandoned and orders anew (acme_order_create)."""
    alive = AcmeOrder.objects.filter(order_alive(now), replaces=OuterRef("pk"), status__in=ACTIVE_STATUSES)
    return Certificate.objects.filter(auto_renew=True, renew_at__lte=now).exclude(Exists(alive))


def renewal_due(certificate_id: int, now: datetime) -> bool:
    return due_for_renewal(now).filter(pk=certificate_id).exists()


def due_for_ari(now: datetime) -> QuerySet[Certificate]:
    return Certificate.objects.filter(auto_renew=True, ari_next_check__lte=now)


@dataclass(frozen=True)
class DueExplanation:
    certificate_id: int
    name: str
    renew_at: datetime | None
    rule: str
    window: str


def explain_due(entries: QuerySet[Certificate]) -> list[DueExplanation]:
    return [
        DueExplanation(
            e.pk,
            e.name,
            e.renew_at,
            e.renewal_rule,
            f"{e.ari_window_start:%Y-%m-%dT%H:%M:%SZ} to {e.ari_window_end:%Y-%m-%dT%H:%M:%SZ}"
            if e.ari_window_start and e.ari_window_end
            else "",
        )
        for e in entries
    ]


# -- what the pages show -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenewalPlanView:
    """A certificate's renewal plan as its page shows it: when, inside which window, decided by whom."""

    source: str
    source_label: str
    renew_at: datetime | None
    rule: str
    window_start: datetime | None
    window_end: datetime | None
    next_ari_check: datetime | None
    ari_error: str
    failures: int


def certificate_renewal_plan(entry: Certificate) -> RenewalPlanView | None:
    """None for a certificate that does not renew itself (or has no validity to plan from)."""
    if not entry.auto_renew or entry.not_before is None or entry.not_after is None:
        return None
    if entry.renewal_source == RenewalSource.ARI and entry.ari_window_start and entry.ari_window_end:
        start, end = entry.ari_window_start, entry.ari_window_end
    else:
        start, end = schedule.lifetime_window(entry.not_before, entry.not_after, fraction=schedule_policy().fraction)
    return RenewalPlanView(
        source=entry.renewal_source,
        source_label=RenewalSource(entry.renewal_source).label,
        renew_at=entry.renew_at,
        rule=entry.renewal_rule,
        window_start=start,
        window_end=end,
        next_ari_check=entry.ari_next_check,
        ari_error=entry.ari_error,
        failures=entry.renewal_failures,
    )


@dataclass(frozen=True)
class AcmeOverview:
    certificates: list[Certificate]
    orders: list[AcmeOrder]
    has_accounts: bool


def acme_overview() -> AcmeOverview:
    """The Let's Encrypt tab: ACME certificates (stored columns only), the latest orders, and whether there is an
    account to order with."""
    certificates = (
        Certificate.objects.filter(source=CertificateSource.ACME)
        .only("id", "name", "sans", "not_after", "renew_at", "auto_renew", "renewal_failures", "last_error")
        .order_by("name", "id")[:500]
    )
    orders = AcmeOrder.objects.select_related("account").order_by("-created_at")[:20]
    return AcmeOverview(list(certificates), list(orders), acme_accounts_exist())


def acme_accounts_exist() -> bool:
    return AcmeAccount.objects.exists()


def acme_accounts() -> QuerySet[AcmeAccount]:
    return AcmeAccount.objects.all()


@dataclass(frozen=True)
class OrderProgress:
    order: AcmeOrder
    events: list[AcmeOrderEvent]


def acme_order_progress(order_id: int) -> OrderProgress:
    """An order with the steps it went through, oldest first."""
    try:
        order = AcmeOrder.objects.select_related("account", "certificate", "replaces").get(pk=order_id)
    except AcmeOrder.DoesNotExist:
        raise NotFoundError(f"There is no order #{order_id}.") from None
    return OrderProgress(order, list(order.events.all()))


def acme_order_progress_as_dict(progress: OrderProgress) -> dict[str, Any]:
    """The JSON the order page polls (static/js/order.js)."""
    order = progress.order
    return {
        "status": order.status,
        "active": order.is_active,
        "waiting_for_queue": order.is_active and order.dispatched_at is None,
        "error": order.error,
        "certificate_id": order.certificate_id,
        "events": [
            {
                "status": e.status,
                "label": e.get_status_display(),
                "message": e.message,
                "at": e.at.strftime("%H:%M:%S.%f")[:-3],
            }
            for e in progress.events
        ],
    }


def challenge_key_authorization(token: str) -> str | None:
    """What the HTTP-01 responder answers for a token; None for a token no order published."""
    return AcmeChallenge.objects.filter(token=token).values_list("key_authorization", flat=True).first()
