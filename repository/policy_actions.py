"""Saving the schedule policy (repository/policy.py) from the settings page, and re-planning what the old one
planned, in the same transaction as its audit row: a new renewal point moves the next renewal of the certificates
the lifetime rule planned (acme/renewals.py), and a new renewal point or "expiring" threshold moves every
certificate's stored "expiring" start (``expiring_from``, which the list filters on)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from django.contrib.auth.models import User
from django.db import transaction

from certpanel.audit.actions import AuditAction, audit_record, changed_fields
from repository.acme import schedule
from repository.acme.renewals import certificates_renewal_replan
from repository.errors import RepositoryError
from repository.models import Certificate, PanelSettings
from repository.models.settings import EXPIRING_DAYS_MAX, EXPIRING_DAYS_MIN, VERIFY_INTERVAL_CHOICES
from repository.policy import SchedulePolicy, schedule_policy

BATCH = 1000


@dataclass(frozen=True)
class PolicySaved:
    changed: bool
    renewals_replanned: int  # auto-renewing certificates given a new next renewal
    expiring_recomputed: int  # certificates given a new "expiring" start


def schedule_policy_save(
    *, fraction: Fraction, verify_interval: timedelta | None, expiring_days: int | None, user: User | None = None
) -> PolicySaved:
    """Store the policy (None: the environment's value) and re-plan in bulk what it changes. RepositoryError for
    a value the page does not offer (the form checks first; this is the last line)."""
    _check(fraction, verify_interval, expiring_days)
    with transaction.atomic():
        panel = PanelSettings.objects.select_for_update().get(pk=PanelSettings.load().pk)
        before = schedule_policy()
        panel.renewal_fraction = str(fraction)
        panel.verify_interval_seconds = int(verify_interval.total_seconds()) if verify_interval else None
        panel.expiring_days = expiring_days
        panel.save(update_fields=["renewal_fraction", "verify_interval_seconds", "expiring_days"])
        after = schedule_policy()
        detail = changed_fields(before.described(), after.described())
        if not detail:
            return PolicySaved(changed=False, renewals_replanned=0, expiring_recomputed=0)
        replanned = certificates_renewal_replan(fraction=after.fraction) if after.fraction != before.fraction else 0
        recomputed = 0
        if (after.fraction, after.expiring_days) != (before.fraction, before.expiring_days):
            recomputed = certificates_expiring_recompute(after)
        audit_record(action=AuditAction.SETTINGS_CHANGE, actor=user, detail=f"schedule policy: {detail}")
    return PolicySaved(changed=True, renewals_replanned=replanned, expiring_recomputed=recomputed)


def certificates_expiring_recompute(policy: SchedulePolicy) -> int:
    """Every certificate's "expiring" start under ``policy``, written in bulk (batched UPDATEs)."""
    rows = list(
        Certificate.objects.filter(not_before__isnull=False, not_after__isnull=False).only(
            "id", "not_before", "not_after"
        )
    )
    for entry in rows:
        assert entry.not_before and entry.not_after  # filtered above
        entry.expiring_from = schedule.expiring_from(
            entry.not_before, entry.not_after, limit=policy.expiring_limit, fraction=policy.fraction
        )
    Certificate.objects.bulk_update(rows, ["expiring_from"], batch_size=BATCH)
    return len(rows)


def _check(fraction: Fraction, verify_interval: timedelta | None, expiring_days: int | None) -> None:
    if fraction not in schedule.FRACTIONS:
        raise RepositoryError(f"Renewal point {fraction} is not one of 1/2, 1/3 or 1/4.")
    seconds = {value for value, _label in VERIFY_INTERVAL_CHOICES}
    if verify_interval is not None and int(verify_interval.total_seconds()) not in seconds:
        raise RepositoryError("The probe interval must be 1, 3, 6, 12 or 24 hours.")
    if expiring_days is not None and not EXPIRING_DAYS_MIN <= expiring_days <= EXPIRING_DAYS_MAX:
        raise RepositoryError(f"The expiring threshold must be {EXPIRING_DAYS_MIN} to {EXPIRING_DAYS_MAX} days.")
