"""A certificate's renewal timetable, kept on its row: the first plan when it arrives (issued here or imported
from certbot), the CA's ARI window, and the backoff after a failed renewal, with the admins told once per incident.

The arithmetic is schedule.py's, at the admin's renewal point (repository/policy.py); a new point re-plans what
the old one planned (``certificates_renewal_replan``). What is due is selectors.py's; ordering a renewal is
orders.py's (``certificate_renew``). Queueing is the task layer's job (repository/tasks.py); nothing here imports
Celery.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from fractions import Fraction

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from repository import emails
from repository.acme import schedule
from repository.acme.accounts import session_for
from repository.errors import RepositoryError
from repository.models import Certificate, RenewalSource
from repository.pki.parse import parse_certificates
from repository.policy import schedule_policy

log = logging.getLogger(__name__)

ARI_MIN_RETRY = timedelta(minutes=1)


def certificate_schedule_renewal(entry: Certificate, *, now: datetime | None = None) -> None:
    """The first plan of a certificate that just arrived, set on its (unsaved) row: renew at a fraction of its
    lifetime, and ask the CA's ARI at once, which may want it renewed earlier. A certificate that does not renew
    itself keeps the rule for the record, but no renewal time and no ARI check."""
    assert entry.not_before and entry.not_after, "set from the leaf (fill_from_x509) before the plan"
    plan = schedule.lifetime_plan(entry.not_before, entry.not_after, fraction=schedule_policy().fraction)
    entry.renew_at = plan.renew_at if entry.auto_renew else None
    entry.renewal_rule = plan.rule
    entry.renewal_source = RenewalSource.LIFETIME
    entry.ari_next_check = (now or timezone.now()) if entry.auto_renew else None


def lifetime_planned() -> QuerySet[Certificate]:
    """Certificates whose next renewal the lifetime rule planned: auto-renewing, no CA window (ARI decides those),
    and not in backoff after a failure (the retry keeps its time)."""
    return Certificate.objects.filter(
        auto_renew=True,
        renewal_failures=0,
        ari_window_start__isnull=True,
        renew_at__isnull=False,
        not_before__isnull=False,
        not_after__isnull=False,
    )


def certificates_renewal_replan(*, fraction: Fraction) -> int:
    """A new renewal point for every certificate the lifetime rule planned, in one bulk UPDATE (the caller's
    transaction). The rows are locked first so a renewal failing meanwhile keeps its backoff: renewal_failed
    waits for the lock, then reads the new time and replaces it with its retry."""
    rows = list(lifetime_planned().select_for_update().only("id", "not_before", "not_after"))
    for entry in rows:
        assert entry.not_before and entry.not_after  # lifetime_planned()
        plan = schedule.lifetime_plan(entry.not_before, entry.not_after, fraction=fraction)
        entry.renew_at, entry.renewal_rule = plan.renew_at, plan.rule
    Certificate.objects.bulk_update(rows, ["renew_at", "renewal_rule"], batch_size=1000)
    return len(rows)


ARI_FIELDS = ["renew_at", "renewal_rule", "renewal_source", "ari_window_start", "ari_window_end", "ari_next_check"]


def certificate_ari_refresh(certificate_id: int, *, now: datetime | None = None) -> Certificate:
    """Fetch the CA's renewal window (RFC 9773). Whatever goes wrong (the CA's error, an answer that is not a
    window, no renewalInfo for this certificate) is logged and shown on the page, and the lifetime rule decides:
    RFC 9773 §4.3.3 leaves the client to make its own determination then."""
    now = now or timezone.now()
    entry = Certificate.objects.select_related("acme_account").get(pk=certificate_id)
    if not entry.auto_renew or entry.acme_account is None:
        return entry
    try:
        session = session_for(entry.acme_account)
        if not session.directory_info().has_renewal_info:
            ari_fall_back(entry, "this CA does not offer ARI (its directory has no renewalInfo)", now=now)
            entry.ari_next_check = None
        else:
            window = session.renewal_info(parse_certificates(entry.certificate_pem.encode())[0])
            apply_ari_window(entry, window.start, window.end, now=now, retry_after=window.retry_after)
    except (RepositoryError, KeyError, ValueError, TypeError) as error:  # AcmeError, CryptoError: RepositoryErrors
        log.warning("ARI for #%s unavailable, the lifetime rule decides: %s", entry.pk, error)
        ari_fall_back(entry, str(error), now=now)
    entry.save(update_fields=[*ARI_FIELDS, "ari_error"])
    return entry


def apply_ari_window(
    entry: Certificate, start: datetime, end: datetime, *, now: datetime, retry_after: timedelta
) -> None:
    """A new window gets a new random pick; the same window keeps the earlier pick. After a failed renewal its
    backoff decides until a renewal succeeds. The CA is asked again when its Retry-After says, within bounds: not
    before a minute (a CA answering 0 is not polled in a loop), not after ARI_REFRESH (twice a day)."""
    if (start, end) != (entry.ari_window_start, entry.ari_window_end):
        entry.ari_window_start, entry.ari_window_end = start, end
        if entry.renewal_failures == 0:
            plan = schedule.ari_plan(start, end, now=now)
            entry.renew_at, entry.renewal_rule = plan.renew_at, plan.rule
    entry.renewal_source = RenewalSource.ARI
    entry.ari_error = ""
    entry.ari_next_check = now + min(max(retry_after, ARI_MIN_RETRY), schedule.ARI_REFRESH)


def ari_fall_back(entry: Certificate, reason: str, *, now: datetime) -> None:
    """The lifetime rule again (a window fetched before is dropped: the CA no longer vouches for it), unless a
    failed renewal's backoff decides; the CA is asked again within ARI_REFRESH."""
    if entry.renewal_source == RenewalSource.ARI and entry.renewal_failures == 0:
        assert entry.not_before and entry.not_after, "an ACME certificate has its validity"
        plan = schedule.lifetime_plan(entry.not_before, entry.not_after, fraction=schedule_policy().fraction)
        entry.renew_at, entry.renewal_rule = max(plan.renew_at, now), plan.rule
    entry.renewal_source = RenewalSource.LIFETIME
    entry.ari_window_start = entry.ari_window_end = None
    entry.ari_error = reason[:300]
    entry.ari_next_check = now + schedule.ARI_REFRESH


def renewal_failed(entry: Certificate, error: str, *, now: datetime | None = None) -> Certificate:
    """Back off (1 min, 10 min, 100 min, daily) and tell the admins once per incident."""
    now = now or timezone.now()
    with transaction.atomic():
        entry = Certificate.objects.select_for_update().get(pk=entry.pk)
        entry.renewal_failures += 1
        entry.last_error = error
        entry.renew_at = schedule.next_attempt(entry.renewal_failures, now, entry.not_after)
        first = not entry.failure_notified
        entry.failure_notified = True
        entry.save(update_fields=["renewal_failures", "last_error", "renew_at", "failure_notified", "updated_at"])
        if first:
            # Same transaction as failure_notified: the incident counts as notified once its email is queued.
            emails.queue_renewal_failed(
                to=emails.notify_to(),
                notice=emails.certificate_notice(entry),
                error=error,
                attempts=entry.renewal_failures,
                next_attempt=entry.renew_at,
            )
    log.warning(
        "renewal of #%s failed (%d in a row), next try %s: %s", entry.pk, entry.renewal_failures, entry.renew_at, error
    )
    return entry
