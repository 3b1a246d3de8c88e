"""The sweep's selection, expiry warnings and the stalled-sweep alarm (database, SMTP sink; no CA).

Emails go through the outbox: the tests deliver it in-process (a worker does it in production)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certpanel.models import Heartbeat, Notification
from certpanel.notifications import notifications_deliver_pending
from repository import expiry
from repository.acme import orders as acme_orders
from repository.acme import selectors as acme_selectors
from repository.acme.sweep_watch import SWEEP, sweep_ran, sweep_stall_check
from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeOrder, Certificate, PanelSettings
from tests.support.factories import ec_key
from tests.support.smtp import SmtpSink


@pytest.fixture
def smtp(settings):  # type: ignore[no-untyped-def]
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", sink.port, False
        settings.CERTPANEL_NOTIFY_EMAILS = ["admins@example.com"]
        yield sink


def _cert(name: str, **fields: object) -> Certificate:
    now = timezone.now()
    values = {
        "source": "acme",
        "certificate_pem": "stored",
        "not_before": now - timedelta(days=60),
        "not_after": now + timedelta(days=30),
        "sans": [name],
        "fingerprint_sha256": name,
    }
    values.update(fields)
    return Certificate.objects.create(name=name, **values)


@pytest.fixture
def account(db: None) -> AcmeAccount:
    return AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))


def test_due_selection_is_one_query_and_skips_running_renewals(account: AcmeAccount) -> None:
    now = timezone.now()
    due = _cert("due.example", auto_renew=True, renew_at=now - timedelta(minutes=1), acme_account=account)
    _cert("later.example", auto_renew=True, renew_at=now + timedelta(days=1), acme_account=account)
    _cert("manual.example", auto_renew=False, renew_at=now - timedelta(days=1))
    busy = _cert("busy.example", auto_renew=True, renew_at=now - timedelta(hours=1), acme_account=account)
    AcmeOrder.objects.create(
        account=account, hostnames=["busy.example"], key_type="ec256", replaces=busy, status="validating"
    )
    with CaptureQueriesContext(connection) as queries:
        ids = list(acme_selectors.due_for_renewal(now).values_list("pk", flat=True))
    assert ids == [due.pk] and len(queries) == 1


def test_second_renewal_order_for_the_same_certificate_returns_the_running_one(account: AcmeAccount) -> None:
    entry = _cert("mail.example.com", auto_renew=True, acme_account=account, key_type="ec256")
    first = acme_orders.certificate_renew(entry.pk)
    second = acme_orders.certificate_renew(entry.pk)
    assert first.pk == second.pk and AcmeOrder.objects.count() == 1


def test_only_acme_certificates_renew_themselves(db: None) -> None:
    entry = _cert("self.example", source="self_signed")
    with pytest.raises(Exception, match="cannot renew itself"):
        acme_orders.certificate_renew(entry.pk)


@pytest.mark.django_db(transaction=True)
def test_expiry_warnings_at_30_14_7_1_days_once_each(smtp: SmtpSink) -> None:
    now = timezone.now()
    entry = _cert("imported.example", source="imported", not_after=now + timedelta(days=29, hours=12))
    assert expiry.certificates_warn_expiring(now=now) == [entry.pk]
    assert expiry.certificates_warn_expiring(now=now) == []
    assert expiry.certificates_warn_expiring(now=now + timedelta(days=16)) == [entry.pk]  # 13.5 days left → 14
    assert expiry.certificates_warn_expiring(now=now + timedelta(days=23)) == [entry.pk]  # 6.5 → 7
    assert expiry.certificates_warn_expiring(now=now + timedelta(days=29)) == [entry.pk]  # 0.5 → 1
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"] * 4
    messages = smtp.wait_for(4)
    assert messages[0]["Subject"].endswith("imported.example expires in 29 days")
    assert "Renew it with your CA" in messages[0].get_body(("plain",)).get_content()


@pytest.mark.django_db(transaction=True)
def test_a_stalled_sweep_is_shown_on_every_page_and_mailed_once(smtp: SmtpSink, client: Client) -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("eve", is_staff=True)
    client.force_login(user)
    Heartbeat.objects.create(name=SWEEP, last_seen=timezone.now() - timedelta(hours=25))
    for url in ("/certificates/", "/toolbox/", "/settings/"):
        assert "No certificate renewal sweep has run since" in client.get(url).content.decode()
    assert client.get("/health/").json()["renewal_sweep_ok"] is False
    assert not Notification.objects.exists(), "pages only read: the worker's check queues the email"
    assert not PanelSettings.load().sweep_stall_notified
    for _ in range(3):  # every worker's timer, again and again: one email per incident
        assert sweep_stall_check().stalled
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
    (mail,) = smtp.wait_for(1)
    assert "No certificate renewal sweep for 25 hours" in mail["Subject"]
    sweep_ran()
    assert "No certificate renewal sweep" not in client.get("/certificates/").content.decode()
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
    messages = smtp.wait_for(2)
    assert "running again" in messages[1]["Subject"]
    assert not PanelSettings.load().sweep_stall_notified
    assert not sweep_stall_check().stalled
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_fresh_install_is_not_reported_as_stalled(client: Client) -> None:
    from repository.acme.sweep_watch import sweep_state

    assert sweep_state().stalled is False


@pytest.mark.django_db(transaction=True)
def test_a_renewal_this_worker_cannot_decrypt_fails_with_an_email_instead_of_retrying_silently(
    smtp: SmtpSink,
) -> None:
    import os

    from repository import keystore
    from repository.acme.orders import acme_order_process
    from repository.models import PrivateKey
    from repository.pki.convert import private_key_to_pem

    # The account key was sealed under another KEK (a worker started without the data dir, or a wrong
    # CERTPANEL_KEY_ENCRYPTION_KEY): the CA is never contacted, so no network is involved.
    foreign = PrivateKey.objects.create(
        key_type="ec256",
        sealed_pem=keystore.seal(private_key_to_pem(ec_key(), None), kek=os.urandom(32)),
        public_key_sha256="0" * 64,
    )
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=foreign)
    entry = _cert("mail.example.com", auto_renew=True, acme_account=account, key_type="ec256")
    order = acme_orders.certificate_renew(entry.pk)
    assert acme_order_process(order.pk) == "failed"
    order.refresh_from_db()
    assert "different key-encryption key" in order.error and order.problem_type == "keyEncryptionKey"
    entry.refresh_from_db()
    assert entry.renewal_failures == 1 and entry.renew_at > timezone.now()
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
    (message,) = smtp.wait_for(1)
    assert "CERTPANEL_KEY_ENCRYPTION_KEY" in message.get_body(("plain",)).get_content()
