"""The outbox in one process: queueing in the caller's transaction, one Message-ID, the lease, backoff,
errors in plain words from a real SMTP server (aiosmtpd) that refuses, lacks STARTTLS or answers 4xx."""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import close_old_connections, transaction
from django.utils import timezone
from pytest_django import Settings

from certpanel.mail_errors import MailServer, mail_error_text
from certpanel.models import Notification
from certpanel.notifications import (
    Email,
    lease_time_limit,
    notification_deliver,
    notification_queue,
    notifications_due,
    retry_delay,
    undelivered_summary,
)
from repository import emails
from tests.support.processes import free_port
from tests.support.smtp import SmtpSink

ADMIN = "admin@example.org"
SERVER = MailServer(host="mail.example.net", port=587, timeout=20, user="panel")


def _smtp(settings: Settings, port: int, *, tls: bool = False) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL, settings.EMAIL_TIMEOUT = tls, False, 5
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "", ""
    settings.DEFAULT_FROM_EMAIL = "certpanel@panel.example.net"
    settings.CERTPANEL_NOTIFY_RETRY_SECONDS = [30, 60, 120, 300]


@pytest.fixture
def sink(db: None, settings: Settings) -> Iterator[SmtpSink]:
    with SmtpSink() as smtp:
        _smtp(settings, smtp.port)
        yield smtp


def _queue(subject: str = "Renewal of mail.example.com failed") -> Notification:
    row = notification_queue(kind="renewal_failed", to=[ADMIN], email=Email(subject, "the text\n", "<p>the html</p>"))
    assert row is not None
    return row


# ---------------------------------------------------------------- pure


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 30), (1, 30), (2, 60), (3, 120), (4, 300), (5, 300), (50, 300)])
def test_retry_delay_follows_the_schedule_then_repeats_its_last_step(attempts: int, seconds: int) -> None:
    assert retry_delay(attempts, [30, 60, 120, 300]) == timedelta(seconds=seconds)


@pytest.mark.parametrize("lease", [2, 10, 60, 300, 3600])
def test_the_delivery_task_is_killed_before_its_lease_ends(lease: int) -> None:
    assert 1 <= lease_time_limit(lease) < lease


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "SMTP server mail.example.net:587 refused the connection"),
        (TimeoutError("timed out"), "SMTP server mail.example.net:587 did not answer within 20 s"),
        (socket.gaierror(-2, "Name or service not known"), "cannot find the SMTP host mail.example.net"),
        (
            smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
            "does not offer STARTTLS (EMAIL_USE_TLS is on)",
        ),
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"),
            "rejected the login of panel: 535 5.7.8 Authentication credentials invalid (a permanent refusal)",
        ),
        (
            smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"5.1.1 no such user")}),
            "refused every recipient: a@example.org (550 5.1.1 no such user (a permanent refusal))",
        ),
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 sender not owned", "certpanel@x"),
            "refused the sender certpanel@x: 553 5.7.1 sender not owned",
        ),
        (
            smtplib.SMTPDataError(451, b"4.3.0 try again later"),
            "rejected the message: 451 4.3.0 try again later (a temporary refusal)",
        ),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "closed the connection"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "is EMAIL_USE_SSL right for this port?"),
    ],
)
def test_mail_errors_are_one_plain_sentence(error: BaseException, expected: str) -> None:
    text = mail_error_text(error, SERVER)
    assert expected in text
    assert "\n" not in text and "Errno" not in text and "b'" not in text


def test_a_file_backend_error_names_the_directory() -> None:
    server = MailServer("", 0, 0, file_path="/data/emails")
    text = mail_error_text(PermissionError(13, "Permission denied"), server)
    assert text == "cannot write the email files in /data/emails: Permission denied"


def test_long_errors_are_cut_to_fit_the_row() -> None:
    error = smtplib.SMTPRecipientsRefused({f"user{i}@example.org": (550, b"no") for i in range(100)})
    assert len(mail_error_text(error, SERVER)) == 500


# ---------------------------------------------------------------- queue


def test_nothing_is_queued_without_recipients(db: None) -> None:
    assert notification_queue(kind="test", to=["", " "], email=Email("s", "t", "")) is None
    assert not Notification.objects.exists()


def test_the_row_belongs_to_the_callers_transaction(db: None) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        _queue()
        raise RuntimeError("the incident was rolled back")
    assert not Notification.objects.exists()


def test_the_worker_is_only_asked_once_the_row_is_committed(
    db: None, django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
        _queue()
        notification_queue(kind="test", to=[ADMIN], email=Email("s", "t", ""), dispatch=False)
    assert len(callbacks) == 1


def test_the_email_is_rendered_when_queued(sink: SmtpSink, settings: Settings) -> None:
    settings.CERTPANEL_BASE_URL = "https://old.example.net"
    row = emails.queue_sweep_recovered(to=[ADMIN], last_sweep=timezone.now())
    assert row is not None and "https://old.example.net/" in row.body_text and row.body_html
    settings.CERTPANEL_BASE_URL = "https://new.example.net"

    assert notification_deliver(row.pk).status == "sent"

    (message,) = sink.wait_for(1)
    assert "https://old.example.net/" in message.get_body(("plain",)).get_content()
    assert message["Subject"] == row.subject == "[certpanel] Certificate renewal sweeps are running again"


def test_each_notification_has_its_own_message_id_on_the_senders_domain(db: None, settings: Settings) -> None:
    settings.DEFAULT_FROM_EMAIL = "Cert Panel <certpanel@mx.example.net>"
    first, second = _queue(), _queue()
    assert first.message_id != second.message_id
    for row in (first, second):
        assert row.message_id.startswith("<") and row.message_id.endswith("@mx.example.net>")


# ---------------------------------------------------------------- deliver


def test_delivery_sends_the_stored_message_id_and_marks_the_row_sent(sink: SmtpSink) -> None:
    row = _queue()

    attempt = notification_deliver(row.pk)

    assert attempt.status == "sent"
    (message,) = sink.wait_for(1)
    row.refresh_from_db()
    assert message["Message-ID"].strip() == row.message_id
    assert message["Auto-Submitted"] == "auto-generated" and message["Subject"] == row.subject
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None and row.lease_until is None
    assert notification_deliver(row.pk).status == "already_sent"
    with pytest.raises(TimeoutError):
        sink.wait_for(2, timeout=0.3)


def test_a_refused_connection_keeps_the_row_with_the_error_and_backs_off(db: None, settings: Settings) -> None:
    port = free_port()  # nothing listens there
    _smtp(settings, port)
    row = _queue()
    before = timezone.now()

    first = notification_deliver(row.pk)

    assert first.status == "failed" and first.retry_in == 30
    row.refresh_from_db()
    assert row.status == "pending" and row.attempts == 1 and row.lease_until is None
    assert row.last_error == f"SMTP server 127.0.0.1:{port} refused the connection (is it running on that port?)"
    assert timedelta(seconds=30) <= row.next_attempt_at - before <= timedelta(seconds=35)
    assert notification_deliver(row.pk).status == "not_due", "the backoff holds"
    assert notifications_due() == []
    assert notifications_due(now=timezone.now() + timedelta(seconds=31)) == [row.pk]

    second = notification_deliver(row.pk, force=True)
    assert second.status == "failed" and second.retry_in == 60
    summary = undelivered_summary()
    assert summary is not None and summary.count == 1 and "refused the connection" in summary.error

    with SmtpSink(port=port) as back:
        assert notification_deliver(row.pk, force=True).status == "sent"
        (message,) = back.wait_for(1)
    row.refresh_from_db()
    assert message["Message-ID"].strip() == row.message_id
    assert row.status == "sent" and row.attempts == 3 and row.last_error == ""
    assert undelivered_summary() is None


def test_a_server_without_starttls_is_named_as_such(sink: SmtpSink, settings: Settings) -> None:
    settings.EMAIL_USE_TLS = True  # aiosmtpd without a TLS context offers no STARTTLS
    row = _queue()

    attempt = notification_deliver(row.pk)

    assert attempt.status == "failed"
    assert f"SMTP server 127.0.0.1:{sink.port} does not offer STARTTLS (EMAIL_USE_TLS is on)" in attempt.error
    with pytest.raises(TimeoutError):
        sink.wait_for(1, timeout=0.3)


def test_a_4xx_reply_to_data_is_recorded_and_retried(db: None, settings: Settings) -> None:
    with SmtpSink(data_reply="451 4.3.0 Mailbox temporarily unavailable") as busy:
        _smtp(settings, busy.port)
        row = _queue()
        attempt = notification_deliver(row.pk)
    assert attempt.status == "failed" and attempt.retry_in == 30
    row.refresh_from_db()
    assert row.last_error == (
        f"SMTP server 127.0.0.1:{busy.port} rejected the message: "
        "451 4.3.0 Mailbox temporarily unavailable (a temporary refusal)"
    )


def test_a_row_under_someone_elses_lease_is_left_alone_until_it_runs_out(sink: SmtpSink) -> None:
    row = _queue()
    Notification.objects.filter(pk=row.pk).update(lease_until=timezone.now() + timedelta(minutes=5), lease_token="x")

    assert notification_deliver(row.pk, force=True).status == "leased"
    assert notifications_due() == []
    with pytest.raises(TimeoutError):
        sink.wait_for(1, timeout=0.3)

    # The holder died: once its lease has run out, the next sender takes over.
    Notification.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert notifications_due() == [row.pk]
    assert notification_deliver(row.pk).status == "sent"
    sink.wait_for(1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_send_a_row_once(settings: Settings) -> None:
    hold = threading.Event()
    with SmtpSink(hold=hold) as slow:
        _smtp(settings, slow.port)
        row = _queue()
        results: list[str] = []

        def send() -> None:
            try:
                results.append(notification_deliver(row.pk).status)
            finally:
                close_old_connections()

        first = threading.Thread(target=send)
        first.start()
        slow.wait_held(1, timeout=10)  # the first sender is mid-DATA, holding the lease
        others = [threading.Thread(target=send) for _ in range(4)]
        for thread in others:
            thread.start()
        for thread in others:
            thread.join(timeout=30)
        hold.set()
        first.join(timeout=30)

        assert sorted(results) == ["leased"] * 4 + ["sent"]
        assert len(slow.wait_for(1)) == 1
    row.refresh_from_db()
    assert row.attempts == 1 and row.status == "sent"


def test_implicit_tls_against_a_plain_smtp_port_is_named_as_such(sink: SmtpSink, settings: Settings) -> None:
    settings.EMAIL_USE_SSL = True
    row = _queue()

    attempt = notification_deliver(row.pk)

    assert attempt.status == "failed"
    assert attempt.error.startswith(f"TLS with SMTP server 127.0.0.1:{sink.port} failed: ")
    assert attempt.error.endswith("(is EMAIL_USE_SSL right for this port?)")
