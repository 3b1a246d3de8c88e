"""No stuck order, no silent expiry, no lost or doubled click: the logic, on the real database.

The CA is a small fake session here (pure protocol logic); tests/repository/test_order_recovery_stack.py
drives the same paths through Pebble and a real worker, and tests/test_browser.py through a stopped broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from certpanel.models import BrokerOutage
from certpanel.notifications import notifications_deliver_pending
from repository import emails, expiry
from repository.acme import orders as acme_orders
from repository.acme import schedule
from repository.acme import selectors as acme_selectors
from repository.acme.client import Authorization, Challenge, Order
from repository.acme.orders import (
    TRANSITIONS,
    acme_order_create,
    acme_order_process,
    acme_order_retry_later,
    acme_orders_to_resume,
)
from repository.keystore import key_store
from repository.models import ACTIVE_STATUSES, AcmeAccount, AcmeOrder, Certificate, OrderStatus
from repository.tasks import acme_order_process_task, queue_order
from services.models import Listener, SniCertificate
from tests.support.factories import ec_key
from tests.support.smtp import SmtpSink

CA_STATES = {"challenges_published", "validating", "finalizing", "issued", "failed", "queued"}


# ---------------------------------------------------------------- the transition table


def test_every_state_the_ca_can_report_is_a_transition_from_every_active_state() -> None:
    for state in ACTIVE_STATUSES:
        assert TRANSITIONS[state] >= CA_STATES, state


def test_final_states_are_final_and_only_queued_orders_at_the_ca() -> None:
    assert TRANSITIONS[OrderStatus.ISSUED] == set() and TRANSITIONS[OrderStatus.FAILED] == set()
    assert [s for s, targets in TRANSITIONS.items() if OrderStatus.ORDER_CREATED in targets] == [OrderStatus.QUEUED]


# ---------------------------------------------------------------- a stored order the CA marked invalid


@dataclass
class InvalidAtTheCA:
    """A CA whose stored order went invalid while no worker drove it (a fake: pure protocol logic)."""

    challenge_error: dict[str, Any] | None = None
    order_error: dict[str, Any] | None = None
    new_orders: list[list[str]] = field(default_factory=list)

    def order(self, url: str) -> Order:
        return Order(url, "invalid", ["https://ca.test/authz/1"], "https://ca.test/finalize/1", None, self.order_error)

    def authorization(self, url: str) -> Authorization:
        challenge = Challenge("http-01", "https://ca.test/chall/1", "tok3n", "invalid", self.challenge_error)
        return Authorization(url, "invalid", "mail.example.com", [challenge])

    def new_order(self, **kwargs: Any) -> Order:
        self.new_orders.append(kwargs["identifiers"])
        raise AssertionError("an invalid stored order must fail, not be ordered again")


@pytest.fixture
def account(db: None) -> AcmeAccount:
    return AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))


def _cert(name: str, **fields: object) -> Certificate:
    now = timezone.now()
    values: dict[str, object] = {
        "source": "acme",
        "certificate_pem": "stored",
        "not_before": now - timedelta(days=60),
        "not_after": now + timedelta(days=30),
        "sans": [name],
        "fingerprint_sha256": name,
        "key_type": "ec256",
    }
    values.update(fields)
    return Certificate.objects.create(name=name, **values)


@pytest.fixture
def ca(monkeypatch: pytest.MonkeyPatch) -> Iterator[InvalidAtTheCA]:
    fake = InvalidAtTheCA()
    monkeypatch.setattr(acme_orders, "session_for", lambda account: fake)
    yield fake


@pytest.mark.parametrize("last_seen", [s for s in ACTIVE_STATUSES if s != OrderStatus.QUEUED])
def test_a_stored_order_the_ca_marked_invalid_fails_with_the_challenge_error_from_any_state(
    account: AcmeAccount, ca: InvalidAtTheCA, last_seen: str
) -> None:
    ca.challenge_error = {
        "type": "urn:ietf:params:acme:error:unauthorized",
        "detail": "The key authorization file from the server did not match this challenge",
    }
    entry = _cert("mail.example.com", auto_renew=True, acme_account=account)
    order = acme_orders.certificate_renew(entry.pk)
    AcmeOrder.objects.filter(pk=order.pk).update(status=last_seen, order_url="https://ca.test/order/1")
    assert acme_order_process(order.pk) == "failed"
    order.refresh_from_db()
    assert order.problem_type == "unauthorized"
    assert "http://mail.example.com/.well-known/acme-challenge/tok3n" in order.error
    assert "did not match this challenge" in order.error
    assert ca.new_orders == [], "no new order at the CA for an order that failed there"
    assert [e.status for e in order.events.all()][-1] == "failed"
    entry.refresh_from_db()
    assert entry.renewal_failures == 1 and entry.last_error == order.error, "the renewal backs off"
    assert entry.renew_at is not None and entry.renew_at > timezone.now()


def test_an_invalid_order_without_a_challenge_error_fails_with_the_order_error(
    account: AcmeAccount, ca: InvalidAtTheCA
) -> None:
    ca.order_error = {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "policy forbids"}
    order = acme_order_create(account=account, hostnames=["mail.example.com"])
    AcmeOrder.objects.filter(pk=order.pk).update(status="validating", order_url="https://ca.test/order/1")
    assert acme_order_process(order.pk) == "failed"
    order.refresh_from_db()
    assert order.problem_type == "rejectedIdentifier" and "refuses to issue" in order.error


# ---------------------------------------------------------------- one active order per names; abandoned orders


def test_the_same_names_in_any_order_return_the_active_order(account: AcmeAccount) -> None:
    first = acme_order_create(account=account, hostnames=["mail.example.com", "imap.example.com"])
    again = acme_order_create(account=account, hostnames=["IMAP.example.com", "mail.example.com"])
    assert again.pk == first.pk and AcmeOrder.objects.count() == 1
    other = AcmeAccount.objects.create(name="other", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    assert acme_order_create(account=other, hostnames=["mail.example.com", "imap.example.com"]).pk != first.pk
    AcmeOrder.objects.filter(pk=first.pk).update(status="issued")
    assert acme_order_create(account=account, hostnames=["mail.example.com", "imap.example.com"]).pk != first.pk


def test_the_database_refuses_a_second_active_order_for_the_same_names(account: AcmeAccount) -> None:
    from django.db import IntegrityError, transaction

    order = acme_order_create(account=account, hostnames=["mail.example.com"])
    with pytest.raises(IntegrityError), transaction.atomic():
        AcmeOrder.objects.create(
            account=account, hostnames=["mail.example.com"], names_digest=order.names_digest, key_type="ec256"
        )


def _stall(order: AcmeOrder, *, minutes: int, **fields: object) -> None:
    AcmeOrder.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes), **fields)


@pytest.mark.django_db(transaction=True)
def test_a_renewal_does_not_attach_to_an_order_without_progress_it_fails_it_and_orders_anew(
    settings: Any,
) -> None:
    settings.CERTPANEL_ACME_ORDER_DEADLINE = 300
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    entry = _cert("mail.example.com", auto_renew=True, acme_account=account)
    stuck = acme_orders.certificate_renew(entry.pk)
    _stall(stuck, minutes=12, status="validating", order_url="https://ca.test/order/1")
    fresh = acme_orders.certificate_renew(entry.pk)
    assert fresh.pk != stuck.pk and fresh.status == "queued" and fresh.replaces_id == entry.pk
    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.problem_type == "abandoned"
    assert stuck.error.startswith("No progress for 12 minutes: abandoned")
    entry.refresh_from_db()
    assert entry.renewal_failures == 1 and "abandoned" in entry.last_error


@pytest.mark.parametrize(
    ("minutes", "lease_seconds", "dispatched"),
    [
        (2, None, True),  # recent progress
        (12, 60, True),  # a live lease: a worker drives it, or a retry waits for its time
        (12, None, False),  # waiting for the work queue: a new order would only wait behind it
    ],
)
def test_a_renewal_attaches_to_an_order_that_is_alive(
    account: AcmeAccount, settings: Any, minutes: int, lease_seconds: int | None, dispatched: bool
) -> None:
    settings.CERTPANEL_ACME_ORDER_DEADLINE = 300
    entry = _cert("mail.example.com", auto_renew=True, acme_account=account)
    running = acme_orders.certificate_renew(entry.pk)
    lease = timezone.now() + timedelta(seconds=lease_seconds) if lease_seconds else None
    sent = timezone.now() - timedelta(minutes=minutes) if dispatched else None
    _stall(running, minutes=minutes, status="validating", lease_until=lease, dispatched_at=sent)
    assert acme_orders.certificate_renew(entry.pk).pk == running.pk
    running.refresh_from_db()
    assert running.status == "validating"


def test_the_sweep_renews_a_certificate_whose_renewal_order_stopped_progressing(
    account: AcmeAccount, settings: Any
) -> None:
    settings.CERTPANEL_ACME_ORDER_DEADLINE = 300
    now = timezone.now()
    stuck = _cert("stuck.example", auto_renew=True, acme_account=account, renew_at=now - timedelta(hours=1))
    busy = _cert("busy.example", auto_renew=True, acme_account=account, renew_at=now - timedelta(hours=1))
    _stall(acme_orders.certificate_renew(stuck.pk), minutes=30, status="validating")
    _stall(acme_orders.certificate_renew(busy.pk), minutes=1, status="validating")
    assert list(acme_selectors.due_for_renewal(now).values_list("pk", flat=True)) == [stuck.pk]


# ---------------------------------------------------------------- what the frequent sweep resumes


def test_the_resume_sweep_takes_undispatched_expired_and_lost_orders_only(account: AcmeAccount, settings: Any) -> None:
    settings.CERTPANEL_ACME_LEASE_SECONDS = 120
    now = timezone.now()

    def order(name: str, **fields: object) -> int:
        created = acme_order_create(account=account, hostnames=[f"{name}.example"])
        AcmeOrder.objects.filter(pk=created.pk).update(**fields)
        return created.pk

    undispatched = order("undispatched", dispatched_at=None)
    dead_worker = order("dead", dispatched_at=now - timedelta(minutes=5), lease_until=now - timedelta(seconds=1))
    lost = order("lost", dispatched_at=now - timedelta(minutes=5))
    order("fresh", dispatched_at=now - timedelta(seconds=10))  # in the broker's queue behind others
    order("driven", dispatched_at=now - timedelta(minutes=5), lease_until=now + timedelta(seconds=60))
    order("done", dispatched_at=None, status="issued")
    waiting = order("waiting", dispatched_at=now - timedelta(minutes=5))
    acme_order_retry_later(waiting, seconds=300)  # a transient error: its retry is due in 5 minutes
    assert sorted(acme_orders_to_resume(now)) == sorted([undispatched, dead_worker, lost])


# ---------------------------------------------------------------- a broker that does not answer


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The publish fails as kombu fails when Redis is stopped (the real thing: tests/test_browser.py)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise BrokerError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(acme_order_process_task, "apply_async", refuse)


@pytest.mark.django_db(transaction=True)
def test_queue_order_with_the_broker_down_stores_the_order_as_waiting_and_records_the_outage(
    broker_down: None,
) -> None:
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    order = acme_order_create(account=account, hostnames=["mail.example.com"])
    assert queue_order(order.pk) is False
    order.refresh_from_db()
    assert order.dispatched_at is None and order.status == "queued"
    assert BrokerOutage.objects.exists()
    assert acme_orders_to_resume(timezone.now()) == [order.pk]


@pytest.mark.django_db(transaction=True)
def test_new_certificate_and_renew_now_with_the_broker_down_say_so_and_a_second_click_finds_the_same_order(
    broker_down: None, staff_client: Client
) -> None:
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    form = {"hostnames": "mail.example.com\nimap.example.com", "key_type": "ec256", "account": account.pk}
    first = staff_client.post("/certificates/letsencrypt/new/", form, follow=True)
    assert first.status_code == 200
    text = first.content.decode()
    assert "work queue" in text and "is saved and will run as soon as the work queue is back" in text
    assert "no need to request it again" in text and 'id="waiting"' in text
    form["hostnames"] = "imap.example.com\nmail.example.com"
    second = staff_client.post("/certificates/letsencrypt/new/", form, follow=True)
    assert second.status_code == 200 and "already running" in second.content.decode()
    assert AcmeOrder.objects.count() == 1
    assert second.redirect_chain[-1][0] == first.redirect_chain[-1][0]
    entry = _cert("renew.example", auto_renew=True, acme_account=account)
    renewed = staff_client.post(f"/certificates/{entry.pk}/renew/", follow=True)
    assert renewed.status_code == 200 and "is saved and will run" in renewed.content.decode()
    assert staff_client.post(f"/certificates/{entry.pk}/renew/").status_code == 302
    assert AcmeOrder.objects.filter(replaces=entry).count() == 1


def test_cli_issue_with_the_broker_down_warns_and_keeps_the_order(broker_down: None, cli: Any) -> None:
    AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    result = cli("certs", "issue", "--domain", "mail.example.com")
    assert result.code == 0, result.err
    assert "work queue" in result.err and "no need to repeat" in result.err and "Traceback" not in result.err
    assert "Queued order #" in result.out
    assert AcmeOrder.objects.get().dispatched_at is None


# ---------------------------------------------------------------- the expiry-warning backstop


def test_renewal_is_overdue_at_half_the_time_left_at_the_renewal_point() -> None:
    start = datetime(2025, 1, 1, tzinfo=timezone.get_current_timezone())
    end = start + timedelta(days=90)  # renews with 30 days left: overdue with 15 left
    assert not schedule.renewal_overdue(start, end, now=end - timedelta(days=15, minutes=1))
    assert schedule.renewal_overdue(start, end, now=end - timedelta(days=15))
    short = start + timedelta(days=6)  # renews with 3 days left: overdue with 1.5 left
    assert not schedule.renewal_overdue(start, short, now=short - timedelta(hours=37))
    assert schedule.renewal_overdue(start, short, now=short - timedelta(hours=36))


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", sink.port, False
        settings.CERTPANEL_NOTIFY_EMAILS = ["admins@example.com"]
        yield sink


@pytest.mark.django_db(transaction=True)
def test_expiry_warnings_cover_certificates_in_use_or_renewing_whatever_their_source(smtp: SmtpSink) -> None:
    now = timezone.now()
    lifetime = {"not_before": now - timedelta(days=80)}  # 90-day certificates with 10 days left
    broken = _cert("broken.example", auto_renew=True, not_after=now + timedelta(days=10), **lifetime)
    on_time = _cert(
        "on-time.example", auto_renew=True, not_after=now + timedelta(days=20), not_before=now - timedelta(days=70)
    )
    replacement = _cert("listener.example", source="imported", not_after=now + timedelta(days=300))
    old_in_use = _cert("listener.example", source="acme", not_after=now + timedelta(days=10), **lifetime)
    old_sni = _cert("sni.example", source="csr", not_after=now + timedelta(days=10), **lifetime)
    retired = _cert("retired.example", source="acme", not_after=now + timedelta(days=10), **lifetime)
    for old, name in ((old_in_use, "listener"), (old_sni, "sni"), (retired, "retired")):
        _cert(f"{name}-new.example", not_after=now + timedelta(days=300), renewed_from=old)
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, certificate=old_in_use)
    SniCertificate.objects.create(listener=listener, server_name="sni.example", certificate=old_sni)
    assert replacement.pk and on_time.pk
    warned = expiry.certificates_warn_expiring(now=now)
    assert sorted(warned) == sorted([broken.pk, old_in_use.pk, old_sni.pk])
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"] * 3
    messages = {m["Subject"]: m for m in smtp.wait_for(3)}
    subject = "[certpanel] broken.example expires in 10 days: automatic renewal is broken"
    assert subject in messages, list(messages)
    body = messages[subject].get_body(("plain",)).get_content()
    assert "Automatic renewal is broken" in body and "last renewal error" in body
    assert expiry.certificates_warn_expiring(now=now) == [], "once per level"


def test_expiry_advice_says_renewal_is_broken_for_a_certificate_that_renews_itself() -> None:
    assert "Automatic renewal is broken" in emails.expiry_advice("acme", auto_renew=True)
    assert "Renew now" in emails.expiry_advice("acme")
    assert "Renew it with your CA" in emails.expiry_advice("imported")
