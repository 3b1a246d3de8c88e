"""ARI (RFC 9773), `replaces` and short-lived certificates, live: Pebble ≥ 2.7 (its ARI endpoint, the management API
that moves a certificate's window, its check of `replaces`), the panel's responder and a real Celery worker.

Each sweep here is one real `renewal_sweep_task` sent through the broker to the worker, so "the next sweep" is
exactly one; only the short-lived certificate runs on beat, as in production, on a 2-second interval.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

from repository.acme.accounts import acme_account_register, session_for
from repository.acme.client import ari_certificate_id
from repository.acme.orders import acme_order_create
from repository.acme.problems import AcmeError
from repository.models import AcmeOrder, Certificate, SweepRun
from repository.pki.parse import parse_certificates
from repository.tasks import queue_order, renewal_sweep_task
from tests.support.acme_stack import Stack, acme_stack
from tests.support.pebble import PebbleOptions, newer_pebble_or_skip
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

TLSSERVER = {"tlsserver": {"description": "45-day server certificates", "validityPeriod": 45 * 86400}}


@pytest.fixture(autouse=True)
def _newer_pebble() -> None:
    newer_pebble_or_skip()


def _issue(cli: Any, stack: Stack, name: str) -> Certificate:
    result = cli("certs", "issue", "--domain", name, "--wait", "--json", "--timeout", "120")
    assert result.code == 0, result.err + stack.worker_log()
    return Certificate.objects.get(pk=json.loads(result.out)["id"])


def _sweep(stack: Stack) -> None:
    """One renewal sweep, run by the worker, and the tasks it queued given time to start."""
    runs = SweepRun.objects.count()
    renewal_sweep_task.delay()
    wait_for(
        lambda: SweepRun.objects.count() > runs and SweepRun.objects.latest("pk").finished_at,
        timeout=30,
        what="the sweep",
        log=stack.workdir / "worker.log",
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pem(entry: Certificate) -> str:
    return entry.certificate_pem


def _pebble_window(stack: Stack, entry: Certificate) -> dict[str, str]:
    directory = requests.get(stack.pebble.directory_url, verify=str(stack.pebble.ca_bundle_path), timeout=5).json()
    cert_id = ari_certificate_id(parse_certificates(_pem(entry).encode())[0])
    answer = requests.get(
        f"{directory['renewalInfo'].rstrip('/')}/{cert_id}", verify=str(stack.pebble.ca_bundle_path), timeout=5
    )
    window: dict[str, str] = answer.json()["suggestedWindow"]
    return window


def _page(staff_client: Client, entry: Certificate) -> str:
    response = staff_client.get(f"/certificates/{entry.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_sweep_takes_pebbles_window_and_a_window_moved_into_the_past_renews_at_once_with_replaces(
    cli: Any, staff_client: Client, tmp_path: Path
) -> None:
    with acme_stack(tmp_path, pebble=PebbleOptions(http_port=0, newer=True, profiles=TLSSERVER)) as stack:
        stack.account()
        first = _issue(cli, stack, "mail.example.com")
        assert first.renewal_source == "lifetime" and first.ari_next_check is not None, "asked at once"

        before = timezone.now()
        _sweep(stack)
        first = wait_for(
            lambda: Certificate.objects.filter(pk=first.pk, renewal_source="ari").first(),
            timeout=30,
            what="the ARI window",
            log=tmp_path / "worker.log",
        )
        window = _pebble_window(stack, first)
        assert (_iso(first.ari_window_start), _iso(first.ari_window_end)) == (window["start"], window["end"])
        assert first.ari_window_start <= first.renew_at <= first.ari_window_end
        # Pebble answers Retry-After: 21600: asked again in 6 hours (never later than 12).
        assert before + timedelta(hours=6) <= first.ari_next_check <= timezone.now() + timedelta(hours=6)
        page = _page(staff_client, first)
        assert "CA&#x27;s ARI window" in page and "Next ARI check" in page
        assert f"{first.ari_window_start:%Y-%m-%d %H:%M} – {first.ari_window_end:%Y-%m-%d %H:%M} UTC" in page  # noqa: RUF001
        assert f"{first.ari_next_check:%Y-%m-%d %H:%M} UTC" in page

        # The CA's mass-revocation drill: the window moves into the past; 6 hours on, the next check sees it.
        past = timezone.now() - timedelta(days=2)
        stack.pebble.set_renewal_info(_pem(first), {"start": _iso(past), "end": _iso(past + timedelta(hours=8))})
        Certificate.objects.filter(pk=first.pk).update(ari_next_check=timezone.now())
        runs = SweepRun.objects.count()
        _sweep(stack)
        second = wait_for(
            lambda: Certificate.objects.filter(renewed_from=first).first(),
            timeout=60,
            what="the renewal the past window asks for",
            log=tmp_path / "worker.log",
        )
        assert SweepRun.objects.count() == runs + 1, "renewed in the sweep that saw the window, not a later one"
        first.refresh_from_db()
        assert "is over: renew now" in first.renewal_rule and not first.auto_renew

        # `replaces` went out: the order's own record, and Pebble's view of the order.
        order = AcmeOrder.objects.get(certificate=second)
        cert_id = ari_certificate_id(parse_certificates(_pem(first).encode())[0])
        created = order.events.get(status="order_created")
        assert created.message == f"{order.order_url} (replaces {cert_id})"
        at_pebble = session_for(order.account)._post_as_get(order.order_url).json()
        assert at_pebble["replaces"] == cert_id and at_pebble["status"] == "valid"

        # Pebble checks `replaces`: a name that is no certificate id, another account's certificate.
        with pytest.raises(AcmeError) as garbage:
            session_for(order.account).new_order(identifiers=["mail.example.com"], replaces="not-a-cert-id")
        assert garbage.value.code == "malformed" and "ARI CertID" in str(garbage.value)
        other = acme_account_register(
            directory_url=stack.pebble.directory_url,
            email="",
            agree_tos=True,
            name="Other",
            ca_bundle_pem=stack.pebble.ca_bundle_path.read_text(),
        )
        second_id = ari_certificate_id(parse_certificates(_pem(second).encode())[0])
        with pytest.raises(AcmeError) as foreign:
            session_for(other).new_order(identifiers=["mail.example.com"], replaces=second_id)
        assert foreign.value.code == "unauthorized" and "did not request the certificate" in str(foreign.value)
        assert "port 80" not in str(foreign.value)


def test_any_ari_error_falls_back_to_the_lifetime_rule_and_a_refused_replaces_still_renews(
    cli: Any, staff_client: Client, tmp_path: Path
) -> None:
    with acme_stack(tmp_path, pebble=PebbleOptions(http_port=0, newer=True, profiles=TLSSERVER)) as stack:
        stack.account()
        entry = _issue(cli, stack, "mail.example.com")
        planned = entry.renew_at
        answers = {
            "not JSON": "{not json",
            "no window": '{"explanationURL": "https://ca.example/ari"}',
            "reversed": json.dumps(
                {"suggestedWindow": {"start": "2026-12-21T00:00:00Z", "end": "2026-12-20T00:00:00Z"}}
            ),
        }
        for reason, answer in answers.items():
            stack.pebble.set_renewal_info(_pem(entry), answer)
            Certificate.objects.filter(pk=entry.pk).update(ari_next_check=timezone.now(), ari_error="")
            _sweep(stack)
            entry = wait_for(
                lambda: Certificate.objects.filter(pk=entry.pk).exclude(ari_error="").first(),
                timeout=30,
                what=f"the ARI check ({reason})",
                log=tmp_path / "worker.log",
            )
            assert entry.renewal_source == "lifetime" and entry.renew_at == planned, reason
            assert timedelta(hours=11) < entry.ari_next_check - timezone.now() <= timedelta(hours=12), reason
        assert "ends (2026-12-20 00:00) before it starts" in entry.ari_error
        assert stack.worker_log().count("unavailable, the lifetime rule decides") >= 3
        page = _page(staff_client, entry)
        assert "lifetime rule" in page and "The lifetime rule decides until the CA answers" in page

        # A CA that lost its state (Pebble restarted): it knows neither the certificate (ARI answers 404) nor the
        # certificate a renewal names in `replaces` (it refuses the order); the renewal orders without it.
        stack.pebble.restart()
        Certificate.objects.filter(pk=entry.pk).update(ari_next_check=timezone.now(), ari_error="")
        _sweep(stack)
        entry = wait_for(
            lambda: Certificate.objects.filter(pk=entry.pk).exclude(ari_error="").first(),
            timeout=30,
            what="the ARI check after the restart",
            log=tmp_path / "worker.log",
        )
        # Pebble's new issuing CA does not know the certificate's issuer: a 4xx problem document, not a window.
        assert entry.renewal_source == "lifetime" and "rejected a request as malformed" in entry.ari_error
        renewed = cli("certs", "renew", "--id", str(entry.pk), "--wait", "--json")
        assert renewed.code == 0, renewed.err + stack.worker_log()
        new = Certificate.objects.get(pk=json.loads(renewed.out)["id"])
        created = AcmeOrder.objects.get(certificate=new).events.get(status="order_created")
        assert "the CA refused replaces" in created.message and "ordered without it" in created.message
        assert "Traceback" not in stack.worker_log()


def test_a_shortlived_certificate_is_issued_on_its_profile_and_renewed_by_the_beat_sweep(
    transactional_db: None, tmp_path: Path
) -> None:
    """The 160-hour `shortlived` profile, shrunk to 90 seconds so the real beat renews it within the test."""
    profiles = {
        "classic": {"description": "90 days", "validityPeriod": 90 * 86400},
        "shortlived": {"description": "160 hours (90 s here)", "validityPeriod": 90},
    }
    env = {"CERTPANEL_RENEWAL_SWEEP_SECONDS": "2", "CERTPANEL_ORDER_RESUME_SECONDS": "2"}
    with acme_stack(tmp_path, pebble=PebbleOptions(http_port=0, newer=True, profiles=profiles), env=env) as stack:
        account = stack.account()
        order = acme_order_create(account=account, hostnames=["short.example.com"], profile="shortlived")
        queue_order(order.pk)
        first = wait_for(
            lambda: Certificate.objects.filter(acme_order__pk=order.pk).first(),
            timeout=60,
            what="the issuance",
            log=tmp_path / "worker.log",
        )
        assert first.acme_profile == "shortlived"
        order.refresh_from_db()
        assert first.not_after - first.not_before <= timedelta(seconds=90), "the profile was asked for"

        # Pebble 2.10 offers dns-account-01 and dns-persist-01 beside HTTP-01 on every pending authorization (a valid
        # one keeps only the challenge that passed): the issuance above went through them, answering HTTP-01 only.
        session = session_for(account)
        pending = session.new_order(identifiers=["short.example.com"], profile="shortlived")
        offered = {c.type for url in pending.authorizations for c in session.authorization(url).challenges}
        assert {"http-01", "dns-account-01", "dns-persist-01"} <= offered, offered
        issued_with = session.order(order.order_url).authorizations
        assert [c.type for url in issued_with for c in session.authorization(url).challenges] == ["http-01"]

        stack.start_beat()
        second = wait_for(
            lambda: Certificate.objects.filter(renewed_from=first).first(),
            timeout=150,
            what="the beat sweep to renew",
            log=tmp_path / "beat.log",
        )
        assert second.acme_profile == "shortlived" and second.not_after - second.not_before <= timedelta(seconds=90)
        renewal = AcmeOrder.objects.get(certificate=second)
        assert renewal.replaces_id == first.pk and renewal.profile == "shortlived"
        at_pebble = session._post_as_get(renewal.order_url).json()
        assert at_pebble["replaces"] == ari_certificate_id(parse_certificates(_pem(first).encode())[0])
        assert at_pebble["profile"] == "shortlived"
        first.refresh_from_db()
        assert not first.auto_renew and first.renew_at is None
        assert "Traceback" not in stack.worker_log()
