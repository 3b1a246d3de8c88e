"""services/verification.py's ``listeners_verify_due`` and the verify sweep: beat runs the sweep every few minutes,
and it probes only the listeners whose last verification is older than the admin's probe interval (database; the
probing itself: test_deployment_worker.py)."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from django.conf import settings
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from repository.policy import schedule_policy
from repository.policy_actions import schedule_policy_save
from services.models import Listener, VerificationRun
from services.tasks import verify_sweep_task
from services.verification import listeners_verify_due
from tests.repository.acme.builders import stored_certificate

pytestmark = pytest.mark.django_db


def _listener(name: str, port: int, *, verified_hours_ago: float | None, **fields: object) -> Listener:
    now = timezone.now()
    values: dict[str, object] = {"certificate": stored_certificate(f"{name}.example")}
    values |= fields
    if verified_hours_ago is not None:
        values["last_verified_at"] = now - timedelta(hours=verified_hours_ago)
    return Listener.objects.create(name=name, protocol="imaps", port=port, **values)


def _due_names() -> set[str]:
    due = listeners_verify_due(timezone.now(), interval=schedule_policy().verify_interval)
    return {listener.name for listener in due}


def test_the_sweep_picks_listeners_older_than_the_stored_interval(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    _listener("never", 993, verified_hours_ago=None)
    _listener("two-hours", 994, verified_hours_ago=2)
    _listener("seven-hours", 995, verified_hours_ago=7)
    _listener("thirteen-hours", 996, verified_hours_ago=13)
    _listener("queued", 997, verified_hours_ago=30, verify_queued_at=timezone.now())  # its own task reports
    _listener("unassigned", 998, verified_hours_ago=None, certificate=None)  # nothing to probe
    assert settings.CERTPANEL_VERIFY_SWEEP_SECONDS == 6 * 3600
    assert _due_names() == {"never", "seven-hours", "thirteen-hours"}, "the environment's 6 hours"
    schedule_policy_save(fraction=Fraction(1, 3), verify_interval=timedelta(hours=1), expiring_days=None)
    assert _due_names() == {"never", "two-hours", "seven-hours", "thirteen-hours"}
    schedule_policy_save(fraction=Fraction(1, 3), verify_interval=timedelta(hours=12), expiring_days=None)
    with django_assert_num_queries(1):
        due = listeners_verify_due(timezone.now(), interval=timedelta(hours=12))
        assert {listener.name for listener in due} == {"never", "thirteen-hours"}
        assert all(listener.certificate for listener in due)  # fetched with it: the probe needs its fingerprint


def test_a_sweep_with_nothing_due_probes_nothing_and_records_no_run() -> None:
    _listener("fresh", 993, verified_hours_ago=0.5)
    schedule_policy_save(fraction=Fraction(1, 3), verify_interval=timedelta(hours=1), expiring_days=None)
    assert verify_sweep_task.apply().get() == 0
    assert not VerificationRun.objects.exists()


def test_beat_runs_the_verify_sweep_every_few_minutes_whatever_the_interval() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["verify-sweep"]
    assert entry["schedule"] == 300 and entry["options"]["expires"] == 300
