"""repository/expiry.py: the expiry-warning backstop, for every certificate in use or not yet replaced whatever its
source (database, SMTP sink; no CA). Emails go through the outbox: the tests deliver it in-process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from certpanel.notifications import notifications_deliver_pending
from repository import emails
from repository.expiry import certificates_warn_expiring
from services.models import Listener, SniCertificate
from tests.repository.acme.builders import stored_certificate
from tests.support.smtp import SmtpSink


@pytest.mark.django_db(transaction=True)
def test_expiry_warnings_at_30_14_7_1_days_once_each(smtp: SmtpSink) -> None:
    now = timezone.now()
    entry = stored_certificate("imported.example", source="imported", not_after=now + timedelta(days=29, hours=12))
    assert certificates_warn_expiring(now=now) == [entry.pk]
    assert certificates_warn_expiring(now=now) == []
    assert certificates_warn_expiring(now=now + timedelta(days=16)) == [entry.pk]  # 13.5 days left → 14
    assert certificates_warn_expiring(now=now + timedelta(days=23)) == [entry.pk]  # 6.5 → 7
    assert certificates_warn_expiring(now=now + timedelta(days=29)) == [entry.pk]  # 0.5 → 1
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"] * 4
    messages = smtp.wait_for(4)
    assert messages[0]["Subject"].endswith("imported.example expires in 29 days: re-issue it at your CA")
    assert "Renew it with your CA" in messages[0].get_body(("plain",)).get_content()


@pytest.mark.django_db(transaction=True)
def test_expiry_warnings_cover_certificates_in_use_or_renewing_whatever_their_source(smtp: SmtpSink) -> None:
    now = timezone.now()
    lifetime = {"not_before": now - timedelta(days=80)}  # 90-day certificates with 10 days left
    broken = stored_certificate("broken.example", auto_renew=True, not_after=now + timedelta(days=10), **lifetime)
    on_time = stored_certificate(
        "on-time.example", auto_renew=True, not_after=now + timedelta(days=20), not_before=now - timedelta(days=70)
    )
    replacement = stored_certificate("listener.example", source="imported", not_after=now + timedelta(days=300))
    old_in_use = stored_certificate("listener.example", source="acme", not_after=now + timedelta(days=10), **lifetime)
    old_sni = stored_certificate("sni.example", source="csr", not_after=now + timedelta(days=10), **lifetime)
    retired = stored_certificate("retired.example", source="acme", not_after=now + timedelta(days=10), **lifetime)
    for old, name in ((old_in_use, "listener"), (old_sni, "sni"), (retired, "retired")):
        stored_certificate(f"{name}-new.example", not_after=now + timedelta(days=300), renewed_from=old)
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, certificate=old_in_use)
    SniCertificate.objects.create(listener=listener, server_name="sni.example", certificate=old_sni)
    assert replacement.pk and on_time.pk
    warned = certificates_warn_expiring(now=now)
    assert sorted(warned) == sorted([broken.pk, old_in_use.pk, old_sni.pk])
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"] * 3
    messages = {m["Subject"]: m for m in smtp.wait_for(3)}
    subject = "[certpanel] broken.example expires in 10 days: automatic renewal is broken"
    assert subject in messages, list(messages)
    body = messages[subject].get_body(("plain",)).get_content()
    assert "Automatic renewal is broken" in body and "last renewal error" in body
    assert certificates_warn_expiring(now=now) == [], "once per level"


def test_expiry_advice_says_renewal_is_broken_for_a_certificate_that_renews_itself() -> None:
    assert "Automatic renewal is broken" in emails.expiry_advice("acme", auto_renew=True)
    assert "Renew now" in emails.expiry_advice("acme")
    assert "Renew it with your CA" in emails.expiry_advice("imported")
