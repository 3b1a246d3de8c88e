"""acme/orders.py: no stuck order, no lost or doubled click, every order ends in a final state.

The database and a small fake CA first (pure protocol logic); then the same paths on the real one: a Celery
worker on Redis, Pebble, HTTP-01 against the panel's own responder process, a worker SIGKILLed mid-validation.
Short lease and sweep intervals come through the environment, so what takes minutes in production (a 120 s
lease, a 30 s sweep) takes seconds there; the code path is the same.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from django.db import IntegrityError, transaction
from django.utils import timezone

from certpanel.notifications import notifications_deliver_pending
from repository import keystore
from repository.acme import orders
from repository.acme.accounts import session_for
from repository.acme.client import Authorization, Challenge, Order, authorization_from
from repository.acme.orders import (
    TRANSITIONS,
    acme_order_create,
    acme_order_process,
    acme_order_retry_later,
    acme_orders_to_resume,
    certificate_renew,
)
from repository.keystore import key_store
from repository.models import (
    ACTIVE_STATUSES,
    AcmeAccount,
    AcmeChallenge,
    AcmeOrder,
    Certificate,
    OrderStatus,
    PrivateKey,
)
from repository.pki.convert import private_key_to_pem
from repository.tasks import acme_order_process_task, order_resume_sweep_task
from tests.repository.acme.builders import stall_order, stored_certificate
from tests.support.acme_stack import Stack, acme_stack
from tests.support.factories import ec_key
from tests.support.processes import wait_for
from tests.support.smtp import SmtpSink

CA_STATES = {"challenges_published", "validating", "finalizing", "issued", "failed", "queued"}
STEPS = ["queued", "order_created", "challenges_published", "validating", "finalizing", "issued"]


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
def ca(monkeypatch: pytest.MonkeyPatch) -> Iterator[InvalidAtTheCA]:
    fake = InvalidAtTheCA()
    monkeypatch.setattr(orders, "session_for", lambda account: fake)
    yield fake


@pytest.mark.parametrize("last_seen", [s for s in ACTIVE_STATUSES if s != OrderStatus.QUEUED])
def test_a_stored_order_the_ca_marked_invalid_fails_with_the_challenge_error_from_any_state(
    account: AcmeAccount, ca: InvalidAtTheCA, last_seen: str
) -> None:
    ca.challenge_error = {
        "type": "urn:ietf:params:acme:error:unauthorized",
        "detail": "The key authorization file from the server did not match this challenge",
    }
    entry = stored_certificate("mail.example.com", auto_renew=True, acme_account=account)
    order = certificate_renew(entry.pk)
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


def test_an_invalid_order_without_any_error_says_the_ca_gave_no_reason(
    account: AcmeAccount, ca: InvalidAtTheCA
) -> None:
    order = acme_order_create(account=account, hostnames=["mail.example.com"])
    AcmeOrder.objects.filter(pk=order.pk).update(status="validating", order_url="https://ca.test/order/1")
    assert acme_order_process(order.pk) == "failed"
    order.refresh_from_db()
    assert order.problem_type == "noReasonGiven", order.error
    assert "gave no reason" in order.error and "authorization invalid; http-01 challenge invalid" in order.error
    assert "http://mail.example.com/.well-known/acme-challenge/tok3n" in order.error
    assert "port 80" not in order.error


@dataclass
class ValidatingCA:
    """A CA that offers challenge types the panel has never heard of beside HTTP-01, then marks the authorization
    invalid without an error document (a fake: pure protocol logic)."""

    offered: list[dict[str, Any]]
    answered: list[str] = field(default_factory=list)

    def directory_info(self) -> Any:
        return type("Info", (), {"has_renewal_info": False})()

    def new_order(self, **kwargs: Any) -> Order:
        return Order(
            "https://ca.test/order/1", "pending", ["https://ca.test/authz/1"], "https://ca.test/fin/1", None, None
        )

    def order(self, url: str) -> Order:
        return self.new_order()

    def authorization(self, url: str) -> Authorization:
        status = "invalid" if self.answered else "pending"
        data = {"status": status, "identifier": {"value": "mail.example.com"}, "challenges": self.offered}
        return authorization_from(url, data)

    def key_authorization(self, token: str) -> str:
        return f"{token}.thumbprint"

    def answer(self, url: str) -> None:
        self.answered.append(url)

    def poll(self, fetch: Any, done: Any, **kwargs: Any) -> Any:
        return fetch()


def test_unknown_challenge_types_are_ignored_and_an_unexplained_invalid_says_so(
    account: AcmeAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = ValidatingCA(
        offered=[
            {"type": "made-up-99", "status": "pending", "someField": {"nested": True}},  # no url, no token
            {"type": "dns-persist-01", "url": "https://ca.test/chall/p", "status": "pending"},
            "not even an object",
            {"type": "http-01", "url": "https://ca.test/chall/h", "token": "tok3n", "status": "pending"},
        ]
    )
    monkeypatch.setattr(orders, "session_for", lambda account: fake)
    order = acme_order_create(account=account, hostnames=["mail.example.com"])
    assert acme_order_process(order.pk) == "failed"
    order.refresh_from_db()
    assert fake.answered == ["https://ca.test/chall/h"], "only HTTP-01 is answered"
    assert order.problem_type == "noReasonGiven", order.error
    assert "http://mail.example.com/.well-known/acme-challenge/tok3n" in order.error


def test_a_ca_offering_only_unknown_types_fails_plainly(account: AcmeAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = ValidatingCA(offered=[{"type": "made-up-99", "url": "https://ca.test/chall/m", "status": "pending"}])
    monkeypatch.setattr(orders, "session_for", lambda account: fake)
    order = acme_order_create(account=account, hostnames=["mail.example.com"])
    assert acme_order_process(order.pk) == "failed"
    order.refresh_from_db()
    assert order.error == "The CA offers no HTTP-01 challenge for mail.example.com (offered: made-up-99)."


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
    order = acme_order_create(account=account, hostnames=["mail.example.com"])
    with pytest.raises(IntegrityError), transaction.atomic():
        AcmeOrder.objects.create(
            account=account, hostnames=["mail.example.com"], names_digest=order.names_digest, key_type="ec256"
        )


@pytest.mark.django_db(transaction=True)
def test_a_renewal_does_not_attach_to_an_order_without_progress_it_fails_it_and_orders_anew(
    settings: Any,
) -> None:
    settings.CERTPANEL_ACME_ORDER_DEADLINE = 300
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    entry = stored_certificate("mail.example.com", auto_renew=True, acme_account=account)
    stuck = certificate_renew(entry.pk)
    stall_order(stuck, minutes=12, status="validating", order_url="https://ca.test/order/1")
    fresh = certificate_renew(entry.pk)
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
    entry = stored_certificate("mail.example.com", auto_renew=True, acme_account=account)
    running = certificate_renew(entry.pk)
    lease = timezone.now() + timedelta(seconds=lease_seconds) if lease_seconds else None
    sent = timezone.now() - timedelta(minutes=minutes) if dispatched else None
    stall_order(running, minutes=minutes, status="validating", lease_until=lease, dispatched_at=sent)
    assert certificate_renew(entry.pk).pk == running.pk
    running.refresh_from_db()
    assert running.status == "validating"


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


# ---------------------------------------------------------------- renewing a certificate


def test_second_renewal_order_for_the_same_certificate_returns_the_running_one(account: AcmeAccount) -> None:
    entry = stored_certificate("mail.example.com", auto_renew=True, acme_account=account, key_type="ec256")
    first = certificate_renew(entry.pk)
    second = certificate_renew(entry.pk)
    assert first.pk == second.pk and AcmeOrder.objects.count() == 1


def test_only_acme_certificates_renew_themselves(db: None) -> None:
    entry = stored_certificate("self.example", source="self_signed")
    with pytest.raises(Exception, match="cannot renew itself"):
        certificate_renew(entry.pk)


@pytest.mark.django_db(transaction=True)
def test_a_renewal_this_worker_cannot_decrypt_fails_with_an_email_instead_of_retrying_silently(
    smtp: SmtpSink,
) -> None:
    # The account key was sealed under another KEK (a worker started without the data dir, or a wrong
    # CERTPANEL_KEY_ENCRYPTION_KEY): the CA is never contacted, so no network is involved.
    foreign = PrivateKey.objects.create(
        key_type="ec256",
        sealed_pem=keystore.seal(private_key_to_pem(ec_key(), None), kek=os.urandom(32)),
        public_key_sha256="0" * 64,
    )
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=foreign)
    entry = stored_certificate("mail.example.com", auto_renew=True, acme_account=account, key_type="ec256")
    order = certificate_renew(entry.pk)
    assert acme_order_process(order.pk) == "failed"
    order.refresh_from_db()
    assert "different key-encryption key" in order.error and order.problem_type == "keyEncryptionKey"
    entry.refresh_from_db()
    assert entry.renewal_failures == 1 and entry.renew_at > timezone.now()
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
    (message,) = smtp.wait_for(1)
    assert "CERTPANEL_KEY_ENCRYPTION_KEY" in message.get_body(("plain",)).get_content()


# ---------------------------------------------------------------- the real path (Pebble, Celery worker, responder)


def _chain_verifies(entry: Certificate, stack: Stack) -> None:
    leaf = x509.load_pem_x509_certificate(entry.certificate_pem.encode())
    chain = x509.load_pem_x509_certificates(entry.chain_pem.encode())
    leaf.verify_directly_issued_by(chain[0])
    roots = x509.load_pem_x509_certificates(stack.pebble.roots_pem())
    assert any(chain[-1].issuer == root.subject for root in roots)


@pytest.mark.integration
def test_issue_with_wait_drives_every_step_and_stores_a_verified_certificate(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path) as stack:
        bundle = tmp_path / "pebble-ca.pem"
        bundle.write_bytes(stack.pebble.ca_bundle_path.read_bytes())
        registered = cli(
            "acme",
            "register",
            "--directory",
            stack.pebble.directory_url,
            "--email",
            "hostmaster@example.com",
            "--agree-tos",
            "--ca-bundle",
            str(bundle),
            "--json",
        )
        assert registered.code == 0, registered.err
        assert json.loads(registered.out)["uri"].startswith("https://127.0.0.1:")
        result = cli(
            "certs",
            "issue",
            "--domain",
            "mail.example.com",
            "--domain",
            "imap.example.com",
            "--wait",
            "--json",
            "--timeout",
            "120",
        )
        assert result.code == 0, result.err + stack.worker_log()
        data = json.loads(result.out)
        assert data["source"] == "acme" and data["sans"] == ["mail.example.com", "imap.example.com"]
        entry = Certificate.objects.get(pk=data["id"])
        _chain_verifies(entry, stack)
        order = AcmeOrder.objects.get(pk=data["order_id"])
        assert [e.status for e in order.events.all()] == STEPS
        assert not AcmeChallenge.objects.exists(), "tokens are removed when the order ends"
        # Pebble's default is a 5-year certificate: renewal with 1/3 of it left, and ARI checked by the sweep.
        lifetime = entry.not_after - entry.not_before
        assert entry.auto_renew and entry.renew_at is not None
        assert timedelta(0) <= (entry.not_after - lifetime / 3) - entry.renew_at <= timedelta(hours=4)


@pytest.mark.integration
def test_pebble_killed_mid_order_and_restarted_still_issues(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path, gated=True) as stack:
        stack.account()
        outcome: dict[str, object] = {}
        waiter = threading.Thread(
            target=lambda: outcome.update(
                result=cli("certs", "issue", "--domain", "mail.example.com", "--wait", "--json", "--timeout", "120")
            )
        )
        waiter.start()
        assert stack.gate is not None
        stack.gate.wait_requested(timeout=120)  # the CA is validating, held at the gate
        wait_for(lambda: AcmeOrder.objects.filter(status="validating").exists(), timeout=10, what="validation")
        stack.pebble.restart()  # in-memory CA: the account and the order are gone
        stack.gate.release()
        waiter.join(150)
        result = outcome["result"]
        assert result.code == 0, result.err + stack.worker_log()  # type: ignore[attr-defined]
        order = AcmeOrder.objects.get()
        messages = " ".join(e.message for e in order.events.all())
        assert "registered again" in messages
        assert Certificate.objects.filter(source="acme").count() == 1


@pytest.mark.integration
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


FAST = {"CERTPANEL_ACME_LEASE_SECONDS": "3", "CERTPANEL_ORDER_RESUME_SECONDS": "1"}


def _kill_mid_validation(stack: Stack, order: AcmeOrder) -> None:
    """The CA is fetching the challenge (held at the gate): the worker is mid-validation, deterministically."""
    assert stack.gate is not None
    stack.gate.wait_requested(timeout=60)
    wait_for(
        lambda: AcmeOrder.objects.filter(pk=order.pk, status="validating").exists(),
        timeout=15,
        what="validation to start",
        log=stack.workdir / "worker.log",
    )
    stack.kill_worker()


def _ca_status(order: AcmeOrder) -> str:
    return session_for(order.account).order(order.order_url).status


@pytest.mark.integration
def test_order_the_ca_marks_invalid_after_its_worker_died_fails_with_the_cas_reason_and_emails(
    cli: Any, tmp_path: Path
) -> None:
    with SmtpSink() as sink:
        env = {
            **FAST,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink.port),
            "EMAIL_USE_TLS": "false",
            "CERTPANEL_NOTIFY_EMAILS": "admins@example.com",
        }
        with acme_stack(tmp_path, gated=True, env=env) as stack:
            assert stack.gate is not None
            stack.account()
            stack.gate.release()
            issued = cli("certs", "issue", "--domain", "mail.example.com", "--wait", "--json", "--timeout", "120")
            assert issued.code == 0, issued.err + stack.worker_log()
            entry = Certificate.objects.get(pk=json.loads(issued.out)["id"])
            stack.gate.hold()
            queued = cli("certs", "renew", "--id", str(entry.pk), "--json")
            assert queued.code == 0, queued.err
            order = AcmeOrder.objects.get(pk=json.loads(queued.out)["order_id"])
            _kill_mid_validation(stack, order)
            order.refresh_from_db()
            assert order.status == "validating" and order.order_url
            stack.gate.release(status=404)  # the responder "lost" the token: the CA gets a 404
            wait_for(lambda: _ca_status(order) == "invalid", timeout=60, what="the CA to mark the order invalid")
            before = timezone.now()
            stack.start_worker("worker2")
            stack.start_beat()
            wait_for(
                lambda: not AcmeOrder.objects.get(pk=order.pk).is_active,
                timeout=120,
                what="the order to end",
                log=tmp_path / "worker2.log",
            )
            order.refresh_from_db()
            assert order.status == "failed", stack.worker_log("worker2")
            assert order.problem_type == "unauthorized", order.error
            assert "/.well-known/acme-challenge/" in order.error and "404" in order.error, order.error
            statuses = [e.status for e in order.events.all()]
            assert statuses.count("order_created") == 1, f"no new order at the CA: {statuses}"
            entry.refresh_from_db()
            assert entry.renewal_failures == 1 and entry.last_error == order.error
            assert timedelta(minutes=1) <= entry.renew_at - before <= timedelta(minutes=3), "backed off"
            (mail,) = sink.wait_for(1, timeout=60)
            assert "Renewal of mail.example.com failed" in mail["Subject"]
            assert "404" in mail.get_body(("plain",)).get_content()
            log = (tmp_path / "worker2.log").read_text()
            assert "AssertionError" not in log and "is not a valid transition" not in log


@pytest.mark.integration
def test_order_left_by_a_killed_worker_is_issued_within_minutes_of_a_new_worker_starting(
    cli: Any, tmp_path: Path
) -> None:
    with acme_stack(tmp_path, gated=True, env=FAST) as stack:
        assert stack.gate is not None
        stack.account()
        queued = cli("certs", "issue", "--domain", "mail.example.com", "--json")
        assert queued.code == 0, queued.err
        order = AcmeOrder.objects.get(pk=json.loads(queued.out)["order_id"])
        _kill_mid_validation(stack, order)
        stack.gate.release()  # the CA validates: the order is valid at the CA, nobody drives it here
        started = time.monotonic()
        stack.start_worker("worker2")
        stack.start_beat()
        wait_for(
            lambda: not AcmeOrder.objects.get(pk=order.pk).is_active,
            timeout=300,
            what="the order to be resumed",
            log=tmp_path / "worker2.log",
        )
        elapsed = time.monotonic() - started
        order.refresh_from_db()
        assert order.status == "issued", order.error + stack.worker_log("worker2")
        assert elapsed < 300
        print(f"resumed and issued {elapsed:.1f} s after the new worker started")
        assert Certificate.objects.filter(source="acme").count() == 1
        assert [e.status for e in order.events.all()].count("order_created") == 1
