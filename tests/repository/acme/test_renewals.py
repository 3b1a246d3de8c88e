"""acme/renewals.py: a certificate's renewal timetable. ARI windows against a loopback CA that replays recorded
renewalInfo responses; then on the real path (Pebble, Celery worker and beat): short-lived certificates renewed by
the beat sweep, failures backing off with one email per incident."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from repository.acme.renewals import certificate_ari_refresh
from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeOrder, Certificate
from repository.pki.describe import describe_certificate
from services.models import Listener
from tests.repository.acme.fake_ari import FakeCA, leaf_with_aki
from tests.support.acme_stack import acme_stack
from tests.support.factories import ec_key, pem
from tests.support.pebble import PebbleOptions
from tests.support.processes import start, wait_for
from tests.support.smtp import SmtpSink

# ---------------------------------------------------------------- ARI (RFC 9773)


@pytest.fixture
def acme_entry(db: None, fake_ca: FakeCA) -> Certificate:
    key, leaf = leaf_with_aki()
    account = AcmeAccount.objects.create(
        name="fake", directory_url=f"{fake_ca.url}/dir", key=key_store(ec_key()), uri=f"{fake_ca.url}/acct/1"
    )
    info = describe_certificate(leaf)
    return Certificate.objects.create(
        name="mail.example.com",
        source="acme",
        key=key_store(key),
        certificate_pem=pem(leaf).decode(),
        common_name="mail.example.com",
        sans=["mail.example.com"],
        fingerprint_sha256=info.fingerprint_sha256,
        not_before=info.not_before,
        not_after=info.not_after,
        auto_renew=True,
        acme_account=account,
        renew_at=info.not_after - timedelta(days=30),
        renewal_rule="lifetime: renew with 1/3 of 90 days left",
        ari_next_check=timezone.now(),
    )


# Before the recorded window (2026-12-20 04:00 to 2026-12-21 04:00): the tests do not age with the calendar.
BEFORE_WINDOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_ari_window_replaces_the_lifetime_rule_and_is_rechecked_after_retry_after(acme_entry: Certificate) -> None:
    now = BEFORE_WINDOW
    entry = certificate_ari_refresh(acme_entry.pk, now=now)
    start, end = datetime(2026, 12, 20, 4, tzinfo=UTC), datetime(2026, 12, 21, 4, tzinfo=UTC)
    assert start <= entry.renew_at <= end
    assert entry.renewal_rule.startswith("ARI window") and entry.renewal_source == "ari" and not entry.ari_error
    assert entry.ari_next_check == now + timedelta(hours=6)
    picked = entry.renew_at
    again = certificate_ari_refresh(acme_entry.pk, now=now)
    assert again.renew_at == picked, "the same window keeps its random pick"


def test_a_moved_window_gets_a_new_pick(acme_entry: Certificate, fake_ca: FakeCA) -> None:
    certificate_ari_refresh(acme_entry.pk, now=BEFORE_WINDOW)
    fake_ca.body = {"suggestedWindow": {"start": "2026-12-01T00:00:00Z", "end": "2026-12-01T01:00:00Z"}}
    entry = certificate_ari_refresh(acme_entry.pk, now=BEFORE_WINDOW)
    assert datetime(2026, 12, 1, tzinfo=UTC) <= entry.renew_at <= datetime(2026, 12, 1, 1, tzinfo=UTC)


def test_a_window_moved_into_the_past_renews_now(acme_entry: Certificate, fake_ca: FakeCA) -> None:
    certificate_ari_refresh(acme_entry.pk, now=BEFORE_WINDOW)
    fake_ca.body = {"suggestedWindow": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}}
    entry = certificate_ari_refresh(acme_entry.pk, now=BEFORE_WINDOW)
    assert entry.renew_at == BEFORE_WINDOW and "is over: renew now" in entry.renewal_rule


def test_after_a_failed_renewal_the_backoff_decides_and_the_window_is_still_shown(
    acme_entry: Certificate, fake_ca: FakeCA
) -> None:
    backoff = BEFORE_WINDOW + timedelta(minutes=10)
    Certificate.objects.filter(pk=acme_entry.pk).update(renewal_failures=2, renew_at=backoff)
    entry = certificate_ari_refresh(acme_entry.pk, now=BEFORE_WINDOW)
    assert entry.renew_at == backoff and entry.renewal_source == "ari"
    assert entry.ari_window_start == datetime(2026, 12, 20, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("retry_after", "next_check"),
    [("0", timedelta(minutes=1)), ("3600", timedelta(hours=1)), ("604800", timedelta(hours=12))],
)
def test_retry_after_is_honoured_within_a_minute_and_twice_a_day(
    acme_entry: Certificate, fake_ca: FakeCA, retry_after: str, next_check: timedelta
) -> None:
    fake_ca.retry_after = retry_after
    entry = certificate_ari_refresh(acme_entry.pk, now=BEFORE_WINDOW)
    assert entry.ari_next_check == BEFORE_WINDOW + next_check


@pytest.mark.parametrize(
    "broken",
    [
        {"status": 500, "body": {"type": "urn:ietf:params:acme:error:serverInternal"}},
        {"status": 404, "body": {"type": "urn:ietf:params:acme:error:malformed"}},
        {"body": {"suggestedWindow": {"start": "yesterday"}}},
        {"body": {"suggestedWindow": {"start": "2026-12-21T04:00:00Z", "end": "2026-12-20T04:00:00Z"}}},
        {"body": {"suggestedWindow": "soon"}},
        {"body": ["not", "an", "object"]},
        {"body": {"unexpected": True}},
    ],
)
def test_any_ari_error_keeps_the_lifetime_rule(acme_entry: Certificate, fake_ca: FakeCA, broken: dict) -> None:
    for key, value in broken.items():
        setattr(fake_ca, key, value)
    now = timezone.now()
    entry = certificate_ari_refresh(acme_entry.pk, now=now)
    assert entry.renew_at == acme_entry.renew_at and entry.renewal_rule.startswith("lifetime")
    assert entry.renewal_source == "lifetime" and entry.ari_error, "the reason is kept for the page"
    assert entry.ari_next_check == now + timedelta(hours=12)


def test_an_ari_error_after_a_window_goes_back_to_the_lifetime_rule(acme_entry: Certificate, fake_ca: FakeCA) -> None:
    certificate_ari_refresh(acme_entry.pk, now=BEFORE_WINDOW)
    fake_ca.status, fake_ca.body = 500, {"type": "urn:ietf:params:acme:error:serverInternal"}
    entry = certificate_ari_refresh(acme_entry.pk, now=BEFORE_WINDOW)
    assert entry.renewal_source == "lifetime" and entry.renewal_rule.startswith("lifetime")
    assert entry.ari_window_start is None and "internal error" in entry.ari_error
    lifetime = entry.not_after - entry.not_before
    assert lifetime / 3 <= entry.not_after - entry.renew_at <= lifetime / 3 + timedelta(hours=4), "the lifetime pick"


def test_directory_without_renewal_info_stops_asking(acme_entry: Certificate, fake_ca: FakeCA) -> None:
    fake_ca.with_ari = False
    entry = certificate_ari_refresh(acme_entry.pk)
    assert entry.ari_next_check is None and entry.renewal_rule.startswith("lifetime")
    assert "does not offer ARI" in entry.ari_error


# ---------------------------------------------------------------- on the real path


def _issue(cli, *names: str) -> Certificate:  # type: ignore[no-untyped-def]
    args = [arg for name in names for arg in ("--domain", name)]
    result = cli("certs", "issue", *args, "--wait", "--json", "--timeout", "120")
    assert result.code == 0, result.err
    return Certificate.objects.get(pk=json.loads(result.out)["id"])


@pytest.mark.integration
def test_60_second_certificates_are_renewed_by_the_beat_sweep_and_take_over_their_listeners(
    cli, tmp_path: Path
) -> None:
    with acme_stack(
        tmp_path, pebble=PebbleOptions(http_port=0, validity_seconds=60), env={"CERTPANEL_RENEWAL_SWEEP_SECONDS": "2"}
    ) as stack:
        stack.account()
        first = _issue(cli, "mail.example.com")
        # 60 s lifetime: renew with half of it left, minus at most 2 % jitter. Never a hard-coded 30 days.
        left, lifetime = first.not_after - first.renew_at, first.not_after - first.not_before
        assert lifetime / 2 <= left <= lifetime / 2 + lifetime * 0.02, (left, lifetime)
        assert "1/2" in first.renewal_rule
        Listener.objects.create(name="IMAPS", protocol="imaps", port=993, certificate=first)
        beat_log = tmp_path / "beat.log"
        stack.processes["beat"] = start(
            ["-m", "celery", "-A", "certpanel", "beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat")],
            stack.worker_env,
            beat_log,
        )
        second = wait_for(
            lambda: Certificate.objects.filter(renewed_from=first).first(),
            timeout=75,
            what="the sweep to renew",
            log=beat_log,
        )
        assert second.not_before >= first.not_before and second.key_id != first.key_id
        first.refresh_from_db()
        assert not first.auto_renew and first.renew_at is None, "the old one stays, but is not renewed again"
        assert Listener.objects.get(name="IMAPS").certificate_id == second.pk
        order = AcmeOrder.objects.get(certificate=second)
        assert order.replaces_id == first.pk and order.status == "issued"


@pytest.mark.integration
def test_6_day_certificate_renews_at_half_its_lifetime(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path, pebble=PebbleOptions(http_port=0, validity_seconds=6 * 86400)) as stack:
        stack.account()
        entry = _issue(cli, "mx.example.org")
        left, lifetime = entry.not_after - entry.renew_at, entry.not_after - entry.not_before
        assert lifetime / 2 <= left <= lifetime / 2 + timedelta(hours=3), (left, lifetime)
        dry = cli("certs", "renew", "--id", str(entry.pk), "--dry-run", "--json")
        assert dry.code == 0
        (row,) = json.loads(dry.out)
        assert row["due"] is False and "1/2 of 6 days" in row["rule"]
        due = cli("certs", "renew", "--due", "--dry-run", "--json")
        assert json.loads(due.out) == []
        renewed = cli("certs", "renew", "--id", str(entry.pk), "--wait", "--json")
        assert renewed.code == 0, renewed.err + stack.worker_log()
        new = Certificate.objects.get(pk=json.loads(renewed.out)["id"])
        assert new.renewed_from_id == entry.pk


@pytest.mark.integration
def test_failed_renewal_sends_one_email_per_incident_then_a_recovery_email(cli, tmp_path: Path) -> None:
    with SmtpSink() as sink:
        env = {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink.port),
            "EMAIL_USE_TLS": "false",
            "CERTPANEL_NOTIFY_EMAILS": "admins@example.com",
        }
        with acme_stack(tmp_path, env=env) as stack:
            stack.account()
            entry = _issue(cli, "mail.example.com")
            stack.pebble.add_a_record("mail.example.com", "127.0.0.2")  # port 80 of the name no longer reaches us
            for attempt in (1, 2):
                before = timezone.now()
                failed = cli("certs", "renew", "--id", str(entry.pk), "--wait")
                assert failed.code == 1 and "could not reach" in failed.error_line, failed.err
                entry.refresh_from_db()
                assert entry.renewal_failures == attempt
                backoff = entry.renew_at - before
                expected = timedelta(minutes=1) if attempt == 1 else timedelta(minutes=10)
                assert expected <= backoff <= expected + timedelta(seconds=30)
            (mail,) = sink.wait_for(1, timeout=15)
            time.sleep(1)
            assert len(sink.messages) == 1, "one email per incident, not per retry"
            assert "Renewal of mail.example.com failed" in mail["Subject"]
            body = mail.get_body(("plain",)).get_content()
            assert "could not reach" in body and "mail.example.com" in body
            assert f"https://panel.example.net/certificates/{entry.pk}/" in body
            stack.pebble.challtestsrv.clear_a_record("mail.example.com")
            recovered = cli("certs", "renew", "--id", str(entry.pk), "--wait")
            assert recovered.code == 0, recovered.err
            messages = sink.wait_for(2, timeout=15)
            assert "mail.example.com renewed" in messages[1]["Subject"]
