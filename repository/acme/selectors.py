"""Reads of the ACME room: what the sweeps pick up. No writes, no network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from repository.models import ACTIVE_STATUSES, AcmeOrder, Certificate


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
