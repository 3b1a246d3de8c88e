"""The outbox across real processes: a Celery worker (and beat) on Redis, an aiosmtpd sink that is down,
holds DATA, or comes back; the worker SIGKILLed mid-send; the sweep-stall watch on the worker's own timer."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from subprocess import Popen

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from certpanel.models import Heartbeat, Notification
from repository import emails, keystore
from repository.acme.sweep_watch import SWEEP
from repository.models import AcmeAccount, Certificate, PanelSettings, PrivateKey
from repository.pki.convert import private_key_to_pem
from repository.tasks import certificate_renew_task
from tests.support.factories import ec_key
from tests.support.processes import (
    child_env,
    database_url_for_children,
    free_port,
    require_redis_broker,
    start,
    start_celery_worker,
    stop,
    wait_for,
)
from tests.support.smtp import SmtpSink

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ADMINS = "admins@example.com"


class Panel:
    """Worker (and beat) processes for one test, all stopped at the end."""

    def __init__(self, workdir: Path, smtp_port: int, **env: str) -> None:
        self.workdir = workdir
        self.env = child_env(
            DATABASE_URL=database_url_for_children(),
            CELERY_BROKER_URL=require_redis_broker(),
            CERTPANEL_DATA_DIR=str(settings.DATA_DIR),
            CERTPANEL_BASE_URL="https://panel.example.net",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp_port),
            EMAIL_USE_TLS="false",
            EMAIL_TIMEOUT="30",  # a loaded CI machine must not time out a 250 and send a second copy
            CERTPANEL_NOTIFY_EMAILS=ADMINS,
            CERTPANEL_NOTIFY_RETRY_SECONDS="1,2",  # a short backoff, bounded retries for the test
            **env,
        )
        self.processes: dict[str, Popen[bytes]] = {}

    def start_worker(self, name: str) -> None:
        self.processes[name] = start_celery_worker(self.env, self.workdir / f"{name}.log", name=name)

    def start_beat(self) -> None:
        args = ["-m", "celery", "-A", "certpanel", "beat", "--loglevel", "INFO"]
        self.processes["beat"] = start([*args, "--schedule", str(self.workdir / "beat")], self.env, self.log("beat"))

    def kill(self, name: str) -> None:
        """SIGKILL the worker and its pool, as the OOM killer would: no warm shutdown, no ack."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def close(self) -> None:
        for process in self.processes.values():
            stop(process)


@pytest.fixture
def panel_factory(tmp_path: Path) -> Iterator[object]:
    panels: list[Panel] = []

    def make(smtp_port: int, **env: str) -> Panel:
        panels.append(Panel(tmp_path, smtp_port, **env))
        return panels[-1]

    yield make
    for panel in panels:
        panel.close()


def _renewal_that_fails_in_the_worker() -> Certificate:
    """An ACME certificate whose account key is sealed under another KEK: renewing fails in the worker
    with an admin-readable error, before any CA is contacted (no network)."""
    foreign = PrivateKey.objects.create(
        key_type="ec256",
        sealed_pem=keystore.seal(private_key_to_pem(ec_key(), None), kek=os.urandom(32)),
        public_key_sha256="0" * 64,
    )
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=foreign)
    now = timezone.now()
    return Certificate.objects.create(
        name="mail.example.com",
        source="acme",
        certificate_pem="stored",
        not_before=now - timedelta(days=60),
        not_after=now + timedelta(days=12),
        sans=["mail.example.com"],
        fingerprint_sha256="mail",
        auto_renew=True,
        acme_account=account,
        key_type="ec256",
    )


def _renewal_failures(sink: SmtpSink) -> list[EmailMessage]:
    return [m for m in sink.wait_for(0) if str(m["Subject"]).startswith("[certpanel] Renewal of")]


def _page(client: Client, url: str) -> str:
    return " ".join(client.get(url).content.decode().split())


def test_a_renewal_failure_email_queued_while_smtp_is_down_arrives_once_the_server_is_back(
    panel_factory: object, staff_client: Client
) -> None:
    port = free_port()
    sink = SmtpSink(port=port)  # not started: the mail server is down
    panel = panel_factory(port)  # type: ignore[operator]
    panel.start_worker("worker")
    entry = _renewal_that_fails_in_the_worker()

    certificate_renew_task.delay(entry.pk)

    row = wait_for(
        lambda: Notification.objects.filter(kind="renewal_failed", attempts__gte=2).exclude(last_error="").first(),
        timeout=90,
        what="the worker to fail twice to send the renewal-failure email",
        log=panel.log("worker"),
    )
    entry.refresh_from_db()
    assert entry.failure_notified and entry.renewal_failures == 1, "notified = queued, in the same transaction"
    refused = f"SMTP server 127.0.0.1:{port} refused the connection"
    assert row.status == "pending" and row.last_error.startswith(refused)  # type: ignore[attr-defined]
    # Counted from the rows, not assumed to be 1: the worker's start-up sweeps may queue mail of their own.
    pending = list(Notification.objects.filter(status="pending").values_list("kind", "last_error"))
    count = sum(1 for _kind, error in pending if error) or len(pending)
    banner = f"{count} notification{'s' if count != 1 else ''} not delivered: {refused}"
    page = _page(staff_client, "/certificates/")
    assert banner in page, (
        f"banner missing; outbox rows: {pending}; page banner: {page[page.find('not delivered') - 40 :][:200]}"
    )
    assert refused in _page(staff_client, "/settings/")

    sink.start()
    back = time.monotonic()
    try:
        # Every pending email goes out now; the certificate's expiry warning (renewal is broken, 12 days left)
        # may be among them. What must arrive exactly once is the renewal-failure email.
        wait_for(lambda: _renewal_failures(sink), timeout=60, what="the renewal-failure email")
        arrived = time.monotonic() - back
        time.sleep(3)  # retries stop once the server took it: no second copy
        (message, *copies) = _renewal_failures(sink)
        if copies:
            pytest.fail(f"a second copy arrived: {[(m['Subject'], m['Message-ID']) for m in copies]}")
    finally:
        sink.stop()
    print(f"\nrenewal-failure email arrived {arrived:.1f} s after the SMTP server came back")
    row.refresh_from_db()  # type: ignore[attr-defined]
    assert row.status == "sent" and row.last_error == ""  # type: ignore[attr-defined]
    assert message["Message-ID"].strip() == row.message_id  # type: ignore[attr-defined]
    assert message["Subject"].startswith("[certpanel] Renewal of mail.example.com failed")
    body = message.get_body(("plain",)).get_content()
    assert "CERTPANEL_KEY_ENCRYPTION_KEY" in body and f"https://panel.example.net/certificates/{entry.pk}/" in body
    assert "not delivered" not in _page(staff_client, "/certificates/")


def test_a_worker_killed_while_sending_leaves_the_email_to_the_next_worker_with_the_same_message_id(
    panel_factory: object,
) -> None:
    hold = threading.Event()
    with SmtpSink(hold=hold) as sink:
        panel = panel_factory(  # type: ignore[operator]
            sink.port, CERTPANEL_NOTIFY_LEASE_SECONDS="10", CERTPANEL_NOTIFY_SWEEP_SECONDS="1"
        )
        panel.start_worker("first")
        panel.start_beat()
        with transaction.atomic():
            row = emails.queue_test_email(to=[ADMINS], requested_by="the kill test")
        assert row is not None

        sink.wait_held(1, timeout=60)  # the server has the message; its "250" is held back
        panel.kill("first")
        hold.set()
        row.refresh_from_db()
        assert row.status == "pending" and row.attempts == 1 and row.lease_until is not None
        killed = time.monotonic()
        panel.start_worker("second")

        wait_for(
            lambda: Notification.objects.filter(pk=row.pk, status="sent").exists(),
            timeout=90,
            what="the second worker to send the email once the lease ran out",
            log=panel.log("second"),
        )
        print(f"\nresent {time.monotonic() - killed:.1f} s after the kill (lease 10 s, sweep every 1 s)")
        with pytest.raises(TimeoutError):
            sink.wait_for(3, timeout=3)
        ids = [message["Message-ID"].strip() for message in sink.messages]
    row.refresh_from_db()
    assert 1 <= len(ids) <= 2, "at most one duplicate: the copy the dead worker had handed over"
    assert set(ids) == {row.message_id}, "the duplicate carries the same Message-ID, so mail clients fold it"
    assert row.attempts == 2 and row.last_error == ""


def test_the_worker_timer_reports_a_stalled_sweep_once_without_beat_or_page_requests(
    panel_factory: object,
) -> None:
    with SmtpSink() as sink:
        PanelSettings.load()
        panel = panel_factory(sink.port, CERTPANEL_HEARTBEAT_SECONDS="1")  # type: ignore[operator]
        panel.start_worker("worker")  # no beat: the usual reason for a stalled sweep
        wait_for(
            lambda: Heartbeat.objects.filter(name=SWEEP).exists(),
            timeout=60,
            what="the start-up sweep",
            log=panel.log("worker"),
        )
        Heartbeat.objects.filter(name=SWEEP).update(last_seen=timezone.now() - timedelta(hours=25))

        (message,) = sink.wait_for(1, timeout=60)
        assert message["Subject"] == "[certpanel] No certificate renewal sweep for 25 hours"
        with pytest.raises(TimeoutError):
            sink.wait_for(2, timeout=4)  # four more ticks of the timer: still one email per incident
    assert PanelSettings.load().sweep_stall_notified
    assert Notification.objects.filter(kind="sweep_stalled").count() == 1
