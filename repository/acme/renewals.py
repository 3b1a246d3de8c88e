"""Renewal bookkeeping: ordering a renewal, ARI windows, expiry warnings for every certificate in use or not yet
replaced, and what the sweep picks up. What an order's end stores (the issued certificate, a failure's backoff)
is repository/acme/outcomes.py's.

Queueing is the task layer's job (repository/tasks.py); nothing here imports Celery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from repository import emails
from repository.acme import schedule
from repository.acme.accounts import session_for
from repository.acme.orders import acme_order_create, order_alive
from repository.acme.problems import AcmeError
from repository.errors import RepositoryError
from repository.models import (
    ACTIVE_STATUSES,
    AcmeOrder,
    Certificate,
    CertificateSource,
)
from repository.pki.keytypes import KEY_TYPES
from repository.pki.parse import parse_certificates

log = logging.getLogger(__name__)

EXPIRY_LEVELS = (30, 14, 7, 1, 0)


def renewable(entry: Certificate) -> None:
    if entry.source != CertificateSource.ACME or entry.acme_account_id is None:
        raise RepositoryError(f"'{entry.name}' was not issued through ACME by this panel: it cannot renew itself.")
    if hasattr(entry, "renewed_by") and entry.renewed_by is not None:
        raise RepositoryError(f"'{entry.name}' was already renewed by #{entry.renewed_by.pk}.")


def due_for_renewal(now: datetime) -> QuerySet[Certificate]:
    """The sweep's one indexed query (partial index cert_due_renewal).

    A certificate whose renewal order is alive is skipped; one whose order stopped progressing is due again,
    and the renewal then fails that order as abandoned and orders anew (acme_order_create)."""
    alive = AcmeOrder.objects.filter(order_alive(now), replaces=OuterRef("pk"), status__in=ACTIVE_STATUSES)
    return Certificate.objects.filter(auto_renew=True, renew_at__lte=now).exclude(Exists(alive))


def due_for_ari(now: datetime) -> QuerySet[Certificate]:
    return Certificate.objects.filter(auto_renew=True, ari_next_check__lte=now)


def certificate_ari_refresh(certificate_id: int, *, now: datetime | None = None) -> Certificate:
    """Fetch the CA's renewal window (RFC 9773); on any error keep the lifetime rule."""
    now = now or timezone.now()
    entry = Certificate.objects.select_related("acme_account").get(pk=certificate_id)
    if not entry.auto_renew or entry.acme_account is None:
        return entry
    try:
        session = session_for(entry.acme_account)
        if not session.directory_info().has_renewal_info:
            entry.ari_next_check = None
        else:
            window = session.renewal_info(parse_certificates(entry.certificate_pem.encode())[0])
            apply_ari_window(entry, window.start, window.end, now=now, retry_after=window.retry_after)
    except (AcmeError, RepositoryError, KeyError, ValueError) as error:
        log.info("ARI for #%s unavailable (%s): keeping the lifetime rule", entry.pk, error)
        entry.ari_next_check = now + schedule.ARI_REFRESH
    entry.save(update_fields=["renew_at", "renewal_rule", "ari_window_start", "ari_window_end", "ari_next_check"])
    return entry


def apply_ari_window(
    entry: Certificate, start: datetime, end: datetime, *, now: datetime, retry_after: timedelta
) -> None:
    """A new window gets a new random pick; the same window keeps the earlier pick."""
    if (start, end) != (entry.ari_window_start, entry.ari_window_end) and entry.renewal_failures == 0:
        plan = schedule.ari_plan(start, end)
        entry.renew_at, entry.renewal_rule = plan.renew_at, plan.rule
        entry.ari_window_start, entry.ari_window_end = start, end
    entry.ari_next_check = now + min(max(retry_after, timedelta(minutes=1)), schedule.ARI_REFRESH)


def _expiry_level(days_left: int) -> int | None:
    crossed = [level for level in EXPIRY_LEVELS if days_left <= level]
    return min(crossed) if crossed else None


def _warn_now(entry: Certificate, level: int, now: datetime) -> bool:
    """An auto-renewing certificate is warned only once its renewal is overdue (schedule.renewal_overdue):
    before that, its own renewal is still on time and the warning would only be noise."""
    if entry.expiry_warned_days is not None and entry.expiry_warned_days <= level:
        return False
    if entry.auto_renew and entry.not_before is not None and entry.not_after is not None:
        return schedule.renewal_overdue(entry.not_before, entry.not_after, now=now)
    return True


def certificates_warn_expiring(*, now: datetime | None = None) -> list[int]:
    """30/14/7/1 days (and expired) warnings for every certificate in use or not yet replaced, whatever its source.

    The backstop for silent expiry: a certificate that renews itself is warned too, once its renewal is
    overdue, because then renewal is broken. "In use" is a listener or an SNI entry (services' relations,
    read here by their names: repository does not import services).
    """
    now = now or timezone.now()
    warned = []
    in_use = Q(listeners__isnull=False) | Q(sni_listeners__isnull=False)
    candidates = (
        Certificate.objects.filter(not_after__lte=now + timedelta(days=EXPIRY_LEVELS[0] + 1))
        .filter(Q(renewed_by__isnull=True) | in_use)
        .exclude(certificate_pem="")
        .distinct()
    )
    for entry in candidates:
        left = emails.days_left(entry.not_after, now=now)
        level = _expiry_level(left) if left is not None else None
        if level is None or not _warn_now(entry, level, now):
            continue
        with transaction.atomic():
            if Certificate.objects.filter(pk=entry.pk, expiry_warned_days=entry.expiry_warned_days).update(
                expiry_warned_days=level
            ):
                emails.queue_expiry_warning(to=emails.notify_to(), notice=emails.certificate_notice(entry), now=now)
                warned.append(entry.pk)
    return warned


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


def certificate_renew(certificate_id: int, *, user: User | None = None) -> AcmeOrder:
    """Order the renewal of an ACME certificate (or return the renewal already running)."""
    entry = Certificate.objects.select_related("acme_account").get(pk=certificate_id)
    renewable(entry)
    assert entry.acme_account is not None, "renewable() refuses a certificate without an ACME account"
    return acme_order_create(
        account=entry.acme_account,
        hostnames=list(entry.sans) or [entry.common_name],
        key_type=entry.key_type if entry.key_type in KEY_TYPES else "ec256",
        profile=entry.acme_profile,
        replaces=entry,
        user=user,
    )
