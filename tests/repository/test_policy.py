"""repository/policy.py and policy_actions.py: the schedule policy, its environment defaults, and the bulk re-plan
a new renewal point or "expiring" threshold makes (database; the arithmetic itself: acme/test_schedule.py)."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import Settings

from certpanel.models import AuditEvent
from repository.acme import schedule
from repository.acme.renewals import certificate_schedule_renewal
from repository.errors import RepositoryError
from repository.models import Certificate, PanelSettings
from repository.policy import schedule_policy
from repository.policy_actions import PolicySaved, schedule_policy_save
from repository.selectors import certificate_counts, certificate_list
from tests.repository.acme.builders import stored_certificate

pytestmark = pytest.mark.django_db

THIRD, HALF, QUARTER = Fraction(1, 3), Fraction(1, 2), Fraction(1, 4)


def _planned(name: str, *, lifetime_days: float, **fields: object) -> Certificate:
    """An auto-renewing ACME certificate planned by the lifetime rule at 1/3, as issuance leaves it."""
    now = timezone.now()
    entry = Certificate(
        name=name,
        auto_renew=True,
        not_before=now - timedelta(days=1),
        not_after=now - timedelta(days=1) + timedelta(days=lifetime_days),
    )
    certificate_schedule_renewal(entry)
    values = {"not_before": entry.not_before, "not_after": entry.not_after, "renew_at": entry.renew_at}
    values |= {"renewal_rule": entry.renewal_rule, "auto_renew": True, **fields}
    return stored_certificate(name, **values)


def _save(fraction: Fraction = THIRD, interval: timedelta | None = None, days: int | None = None) -> PolicySaved:
    return schedule_policy_save(fraction=fraction, verify_interval=interval, expiring_days=days)


def test_nothing_stored_means_a_third_and_the_environment(settings: Settings) -> None:
    settings.CERTPANEL_VERIFY_SWEEP_SECONDS, settings.CERTPANEL_EXPIRING_DAYS = 7200, 21
    policy = schedule_policy()
    assert (policy.fraction, policy.verify_interval, policy.expiring_days) == (THIRD, timedelta(hours=2), 21)
    assert not policy.verify_interval_stored and not policy.expiring_days_stored
    assert not PanelSettings.objects.exists(), "reading creates no settings row"
    _save(QUARTER, timedelta(hours=12), 45)
    policy = schedule_policy()
    assert (policy.fraction, policy.verify_interval, policy.expiring_days) == (QUARTER, timedelta(hours=12), 45)
    _save(QUARTER)
    assert schedule_policy().expiring_days == 21, "emptied: the environment's again"


def test_a_new_renewal_point_replans_lifetime_renewals_and_leaves_backoff_and_ari_alone() -> None:
    ninety = _planned("ninety.example", lifetime_days=90)
    forty_five = _planned("forty-five.example", lifetime_days=45)
    six = _planned("six.example", lifetime_days=6)
    backoff_at = timezone.now() + timedelta(minutes=10)
    backoff = _planned("backoff.example", lifetime_days=90, renewal_failures=2, renew_at=backoff_at)
    ari_at = timezone.now() + timedelta(days=50)
    ari = _planned(
        "ari.example",
        lifetime_days=90,
        renew_at=ari_at,
        ari_window_start=ari_at,
        ari_window_end=ari_at,
        renewal_rule="ARI",
    )
    manual = _planned("manual.example", lifetime_days=90, auto_renew=False, renew_at=None)

    saved = _save(QUARTER)

    assert saved.renewals_replanned == 3
    for entry, left in ((ninety, timedelta(days=22.5)), (forty_five, timedelta(days=11.25)), (six, timedelta(days=3))):
        entry.refresh_from_db()
        assert entry.not_after and entry.renew_at
        jitter = min((entry.not_after - entry.not_before) * schedule.JITTER_FRACTION, schedule.MAX_JITTER)
        assert entry.not_after - left - jitter <= entry.renew_at <= entry.not_after - left, entry.name
    ninety.refresh_from_db()
    six.refresh_from_db()
    assert ninety.renewal_rule == "lifetime: renew with 1/4 of 90 days left"
    assert six.renewal_rule == "lifetime: renew with 1/2 of 6 days left"
    backoff.refresh_from_db()
    ari.refresh_from_db()
    manual.refresh_from_db()
    assert (backoff.renew_at, backoff.renewal_failures) == (backoff_at, 2), "a retry keeps its backoff time"
    assert (ari.renew_at, ari.renewal_rule) == (ari_at, "ARI"), "the CA's window comes first"
    assert manual.renew_at is None


def test_the_replan_is_one_bulk_update_whatever_the_number_of_certificates() -> None:
    for n in range(30):
        _planned(f"host{n}.example", lifetime_days=90)
    with CaptureQueriesContext(connection) as queries:
        _save(HALF)
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "repository_certificate"')]
    assert len(updates) == 2  # renew_at and renewal_rule, then expiring_from: one statement each
    assert all(
        entry.renew_at and entry.not_after and entry.renew_at <= entry.not_after - timedelta(days=45)
        for entry in Certificate.objects.all()
    )


def test_a_new_threshold_or_renewal_point_moves_every_expiring_start() -> None:
    now = timezone.now()
    imported = stored_certificate(
        "imported.example", source="imported", not_before=now - timedelta(days=10), not_after=now + timedelta(days=355)
    )
    short = _planned("forty-five.example", lifetime_days=45)
    pending = stored_certificate("pending.example", source="csr", not_before=None, not_after=None)
    _save(THIRD, days=60)
    imported.refresh_from_db()
    short.refresh_from_db()
    assert imported.expiring_from == imported.not_after - timedelta(days=60)
    assert short.not_after and short.expiring_from == short.not_after - timedelta(days=15)  # its renewal window
    _save(HALF, days=60)
    short.refresh_from_db()
    assert short.not_after and short.expiring_from == short.not_after - timedelta(days=22.5)
    pending.refresh_from_db()
    assert pending.expiring_from is None


def test_a_save_is_audited_with_old_and_new_values_and_an_unchanged_one_is_not() -> None:
    _save(THIRD, timedelta(hours=1), 30)
    event = AuditEvent.objects.get(action=AuditEvent.Action.SETTINGS_CHANGE)
    assert "probe interval '6 hours (default)' → '1 hour'" in event.detail
    assert "expiring threshold '30 days (default)' → '30 days'" in event.detail
    assert "renewal point" not in event.detail
    assert not _save(THIRD, timedelta(hours=1), 30).changed
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SETTINGS_CHANGE).count() == 1


@pytest.mark.parametrize(
    ("fraction", "interval", "days"),
    [
        (Fraction(1, 5), None, None),
        (THIRD, timedelta(minutes=5), None),
        (THIRD, None, 6),
        (THIRD, None, 91),
    ],
)
def test_the_action_refuses_what_the_page_does_not_offer(
    fraction: Fraction, interval: timedelta | None, days: int | None
) -> None:
    with pytest.raises(RepositoryError):
        _save(fraction, interval, days)
    assert not PanelSettings.objects.exists()


def test_the_list_and_its_counts_follow_the_stored_threshold() -> None:
    now = timezone.now()
    stored_certificate(
        "imported.example", source="imported", not_before=now - timedelta(days=320), not_after=now + timedelta(days=45)
    )
    _save(THIRD, days=30)
    assert certificate_counts()["expiring"] == 0
    _save(THIRD, days=60)
    assert certificate_counts()["expiring"] == 1
    assert [entry.status for entry in certificate_list(status="expiring")] == ["expiring"]
