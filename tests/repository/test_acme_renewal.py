"""Renewal on the real path: short-lived certificates renewed by the beat sweep, failures backing off
with one email per incident, a dead worker's order resumed into exactly one certificate."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from repository.models import AcmeOrder, Certificate
from repository.tasks import acme_order_process_task, order_resume_sweep_task
from services.models import Listener
from tests.support.acme_stack import acme_stack
from tests.support.pebble import PebbleOptions
from tests.support.processes import start, wait_for
from tests.support.smtp import SmtpSink

pytestmark = [pytest.mark.integration]


def _issue(cli, *names: str) -> Certificate:  # type: ignore[no-untyped-def]
    args = [arg for name in names for arg in ("--domain", name)]
    result = cli("certs", "issue", *args, "--wait", "--json", "--timeout", "120")
    assert result.code == 0, result.err
    return Certificate.objects.get(pk=json.loads(result.out)["id"])


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


def test_worker_killed_mid_issuance_yields_exactly_one_certificate(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path, gated=True, env={"CERTPANEL_ACME_LEASE_SECONDS": "3"}) as stack:
        stack.account()
        queued = cli("certs", "issue", "--domain", "mail.example.com", "--json")
        order = AcmeOrder.objects.get(pk=json.loads(queued.out)["order_id"])
        # The CA is fetching the challenge and the gate holds it: the worker is mid-validation, deterministically.
        assert stack.gate is not None
        stack.gate.wait_requested(timeout=60)
        wait_for(
            lambda: AcmeOrder.objects.filter(pk=order.pk, status="validating").exists(),
            timeout=10,
            what="validation to start",
            log=tmp_path / "worker.log",
        )
        stack.kill_worker()
        stack.gate.release()
        order.refresh_from_db()
        assert order.status == "validating", "the dead worker got no further"
        assert order.order_url and order.key_id, "the order URL and key were stored before the crash"
        stack.start_worker("worker2")
        deadline = time.monotonic() + 90
        while AcmeOrder.objects.get(pk=order.pk).is_active and time.monotonic() < deadline:
            order_resume_sweep_task.delay()  # resumes orders whose lease ran out
            acme_order_process_task.delay(order.pk)  # and a duplicate delivery must be harmless
            time.sleep(2)
        order.refresh_from_db()
        assert order.status == "issued", stack.worker_log("worker2")
        assert Certificate.objects.filter(source="acme").count() == 1
        assert order.certificate is not None


def test_a_certbot_lineage_imported_is_then_renewed_by_the_panel(cli, tmp_path: Path, ca) -> None:  # type: ignore[no-untyped-def]
    from repository.acme.client import AcmeSession
    from tests.repository.test_certbot_import import Tree
    from tests.support.factories import rsa_key

    with acme_stack(tmp_path) as stack:
        key = rsa_key()  # certbot's default account key type
        session = AcmeSession(
            directory_url=stack.pebble.directory_url,
            account_key=key,
            ca_bundle_pem=stack.pebble.ca_bundle_path.read_text(),
            bundle_dir=tmp_path,
        )
        uri = session.register(email="")
        tree = Tree(tmp_path / "letsencrypt", ca, str(tmp_path / "letsencrypt"))
        tree.root.mkdir()
        account = tree.add_account(stack.pebble.directory_url, key=key, regr={"body": {}, "uri": uri})
        tree.add_lineage("mail.example.com", account, hostnames=["mail.example.com", "smtp.example.com"])
        imported = cli("certs", "import-certbot", str(tree.root), "--json")
        assert imported.code == 0, imported.err
        (entry,) = json.loads(imported.out)["certificates"]
        # The account's CA bundle is not in certbot's tree: a private CA needs it added once.
        from repository.models import AcmeAccount

        AcmeAccount.objects.update(ca_bundle_pem=stack.pebble.ca_bundle_path.read_text())
        renewed = cli("certs", "renew", "--id", str(entry["id"]), "--wait", "--json")
        assert renewed.code == 0, renewed.err + stack.worker_log()
        new = json.loads(renewed.out)
        assert new["sans"] == ["mail.example.com", "smtp.example.com"] and new["source"] == "acme"
        assert Certificate.objects.get(pk=new["id"]).renewed_from_id == entry["id"]
