"""Expiry warnings at 30, 14, 7 and 1 days left (and expired) for every certificate in use or not yet replaced,
whatever its source: the backstop for silent expiry. Run by the renewal sweep (repository/tasks.py).

A certificate from a commercial CA gets its "re-issue at your CA" reminder (the CA's current maximum validity and
the "New CSR" link) in the first warning it gets: one email, once per certificate, never a second one beside it.

A certificate that renews itself is warned too, once its renewal is overdue (acme/schedule.py), because then
renewal is broken.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from repository import emails, selectors
from repository.acme import schedule
from repository.models import Certificate
from repository.pki.dates import days_left
from repository.policy import schedule_policy

EXPIRY_LEVELS = (30, 14, 7, 1, 0)


def _expiry_level(days_left: int) -> int | None:
    crossed = [level for level in EXPIRY_LEVELS if days_left <= level]
    return min(crossed) if crossed else None


def _warn_now(entry: Certificate, level: int, now: datetime, fraction: Fraction) -> bool:
    """An auto-renewing certificate is warned only once its renewal is overdue (schedule.renewal_overdue):
    before that, its own renewal is still on time and the warning would only be noise."""
    if entry.expiry_warned_days is not None and entry.expiry_warned_days <= level:
        return False
    if entry.auto_renew and entry.not_before is not None and entry.not_after is not None:
        return schedule.renewal_overdue(entry.not_before, entry.not_after, now=now, fraction=fraction)
    return True


def certificates_warn_expiring(*, now: datetime | None = None) -> list[int]:
    """30/14/7/1 days (and expired) warnings for every certificate in use or not yet replaced, whatever its source.

    "In use" is a listener or an SNI entry (services' relations, read here by their names: repository does not
    import services). Each level is warned once: a conditional UPDATE claims it, and the email is queued in the
    same transaction.
    """
    now = now or timezone.now()
    fraction = schedule_policy().fraction
    warned = []
    in_use = Q(listeners__isnull=False) | Q(sni_listeners__isnull=False)
    candidates = (
        Certificate.objects.filter(not_after__lte=now + timedelta(days=EXPIRY_LEVELS[0] + 1))
        .filter(Q(renewed_by__isnull=True) | in_use)
        .exclude(certificate_pem="")
        .distinct()
    )
    for entry in candidates:
        left = days_left(entry.not_after, now=now)
        level = _expiry_level(left) if left is not None else None
        if level is None or not _warn_now(entry, level, now, fraction):
            continue
        reissue = "" if entry.reissue_reminded_at else selectors.certificate_reissue_note(entry, now=now)
        claim = {"expiry_warned_days": level, **({"reissue_reminded_at": now} if reissue else {})}
        with transaction.atomic():
            if Certificate.objects.filter(pk=entry.pk, expiry_warned_days=entry.expiry_warned_days).update(**claim):
                notice = emails.certificate_notice(entry)
                emails.queue_expiry_warning(to=emails.notify_to(), notice=notice, now=now, reissue=reissue)
                warned.append(entry.pk)
    return warned
