"""What an admin sees of the outbox: the banner and Settings for undelivered notifications, the
"Send test email" button, `manage.py notify test|pending|retry` — against a real SMTP sink or a closed port.
Pages only read: no page request writes a row or sends mail."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import Settings

from certpanel.models import Heartbeat, Notification
from certpanel.notifications import Email, notification_deliver, notification_queue, notifications_deliver_pending
from repository.acme.sweep_watch import SWEEP
from repository.models import PanelSettings
from tests.support.processes import free_port
from tests.support.smtp import SmtpSink

ADMINS = "admins@example.com"


def _smtp(settings: Settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL, settings.EMAIL_TIMEOUT = False, False, 5
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "", ""
    settings.CERTPANEL_NOTIFY_EMAILS = [ADMINS]


def _page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


@pytest.fixture
def refused(db: None, settings: Settings) -> int:
    port = free_port()  # nothing listens there
    _smtp(settings, port)
    return port


def _failed_notification() -> Notification:
    row = notification_queue(
        kind="renewal_failed", to=[ADMINS], email=Email("[certpanel] Renewal of mail.example.com failed", "t", "")
    )
    assert row is not None
    assert notification_deliver(row.pk).status == "failed"
    row.refresh_from_db()
    return row


# ---------------------------------------------------------------- banner and Settings


def test_every_page_shows_undelivered_notifications_with_the_error(
    refused: int, staff_client: Client, viewer_client: Client
) -> None:
    _failed_notification()
    _failed_notification()
    expected = f"2 notifications not delivered: SMTP server 127.0.0.1:{refused} refused the connection"
    for client in (staff_client, viewer_client):
        for url in ("/certificates/", "/services/", "/toolbox/", "/settings/"):
            page = _page(client, url)
            assert expected in page and 'href="/settings/#email-delivery"' in page, url
    assert "not delivered" not in Client().get("/login/").content.decode()


def test_settings_lists_each_undelivered_notification_with_error_attempts_and_next_try(
    refused: int, staff_client: Client
) -> None:
    row = _failed_notification()

    page = _page(staff_client, "/settings/")

    section = page[page.index('id="email-delivery"') :]
    assert f"Emails go out through 127.0.0.1:{refused}" in section
    assert "1 notification not delivered" in section
    table = section[section.index('id="undelivered"') : section.index("</table>")]
    assert "[certpanel] Renewal of mail.example.com failed" in table and ADMINS in table
    assert f"SMTP server 127.0.0.1:{refused} refused the connection" in table
    assert "<td>1</td>" in table  # attempts
    assert f"{timezone.localtime(row.next_attempt_at):%Y-%m-%d %H:%M:%S} UTC" in table


def test_a_notification_no_worker_tried_for_minutes_is_shown_too(db: None, staff_client: Client) -> None:
    row = notification_queue(kind="test", to=[ADMINS], email=Email("[certpanel] Test", "t", ""), dispatch=False)
    assert row is not None
    assert "not delivered" not in _page(staff_client, "/certificates/"), "just queued is not late"
    Notification.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    page = _page(staff_client, "/certificates/")
    assert "1 notification not delivered: no worker has tried to send them yet (is the Celery worker running?)" in page


def test_delivered_notifications_leave_no_banner(db: None, settings: Settings, staff_client: Client) -> None:
    with SmtpSink() as sink:
        _smtp(settings, sink.port)
        notification_queue(kind="test", to=[ADMINS], email=Email("[certpanel] Test", "t", ""))
        assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
    assert "not delivered" not in _page(staff_client, "/certificates/")
    assert "Every notification was delivered." in _page(staff_client, "/settings/")


def test_pages_and_health_only_read_even_when_the_sweep_is_stalled(
    refused: int, staff_client: Client, client: Client
) -> None:
    PanelSettings.load()
    Heartbeat.objects.create(name=SWEEP, last_seen=timezone.now() - timedelta(hours=30))
    _failed_notification()
    staff_client.get("/certificates/")  # the session is settled before counting
    for who, url in ((staff_client, "/certificates/"), (staff_client, "/settings/"), (client, "/health/")):
        with CaptureQueriesContext(connection) as queries:
            response = who.get(url)
        assert response.status_code == 200
        writes = [q["sql"] for q in queries if not re.match(r"\s*\(?(SELECT|SAVEPOINT|RELEASE)\b", q["sql"], re.I)]
        assert writes == [], (url, writes)
    assert not PanelSettings.load().sweep_stall_notified
    assert Notification.objects.count() == 1
    health = client.get("/health/").json()
    assert health["renewal_sweep_ok"] is False and health["notifications_undelivered"] == 1


# ---------------------------------------------------------------- Send test email


def test_send_test_email_button_queues_it_and_says_where_it_goes(
    db: None, settings: Settings, staff_client: Client
) -> None:
    with SmtpSink() as sink:
        _smtp(settings, sink.port)
        response = staff_client.post("/settings/test-email/")
        assert response.status_code == 302 and response["Location"] == "/settings/#email-delivery"
        page = _page(staff_client, "/settings/")
        assert f"Test email queued for {ADMINS}: a worker sends it through 127.0.0.1:{sink.port}." in page
        assert "Last test email" in page and "waiting for a worker to send it." in page

        assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]

        (message,) = sink.wait_for(1)
    assert message["Subject"] == "[certpanel] Test email from certpanel" and message["To"] == ADMINS
    text = message.get_body(("plain",)).get_content()
    assert "asked for by alice" in text and f"Sent through: 127.0.0.1:{sink.port}" in text
    assert "taken by the mail server at" in _page(staff_client, "/settings/")


def test_send_test_email_to_a_refusing_server_shows_why_on_settings(refused: int, staff_client: Client) -> None:
    staff_client.post("/settings/test-email/")
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["failed"]

    page = _page(staff_client, "/settings/")

    assert f"not delivered yet: SMTP server 127.0.0.1:{refused} refused the connection" in page
    assert "1 notification not delivered: SMTP server" in page


def test_send_test_email_without_recipients_says_so(db: None, settings: Settings, staff_client: Client) -> None:
    _smtp(settings, free_port())
    settings.CERTPANEL_NOTIFY_EMAILS = []
    staff_client.post("/settings/test-email/")
    assert "No one to send a test email to" in _page(staff_client, "/settings/")
    assert not Notification.objects.exists()


def test_only_staff_may_send_a_test_email(refused: int, viewer_client: Client) -> None:
    assert "Send test email" not in _page(viewer_client, "/settings/")
    assert viewer_client.post("/settings/test-email/").status_code == 403
    assert not Notification.objects.exists()


# ---------------------------------------------------------------- manage.py notify


def test_notify_test_says_the_server_took_it(cli: Callable[..., object], settings: Settings) -> None:
    with SmtpSink() as sink:
        _smtp(settings, sink.port)
        result = cli("notify", "test", "--to", "ops@example.org")
        assert result.code == 0, result.err  # type: ignore[attr-defined]
        (message,) = sink.wait_for(1)
        row = Notification.objects.get()
        assert result.out.strip() == (  # type: ignore[attr-defined]
            f"Test email to ops@example.org taken by the SMTP server 127.0.0.1:{sink.port} "
            f"(Message-ID {row.message_id})."
        )
        assert message["Message-ID"].strip() == row.message_id and message["To"] == "ops@example.org"
        as_json = cli("notify", "test", "--json")
        assert as_json.code == 0  # type: ignore[attr-defined]
        data = json.loads(as_json.out)  # type: ignore[attr-defined]
        assert data["accepted"] is True and data["to"] == [ADMINS] and data["status"] == "sent"
        assert data["server"] == f"127.0.0.1:{sink.port}"


def test_notify_test_reports_a_refusing_server_then_retry_sends_it(
    cli: Callable[..., object], settings: Settings
) -> None:
    port = free_port()
    _smtp(settings, port)

    result = cli("notify", "test")

    assert result.code == 1  # type: ignore[attr-defined]
    assert result.error_line.startswith(  # type: ignore[attr-defined]
        f"error: the test email was not accepted: SMTP server 127.0.0.1:{port} refused the connection "
        "(is it running on that port?); it stays in the outbox and is retried from "
    )
    assert "Traceback" not in result.err  # type: ignore[attr-defined]
    pending = cli("notify", "pending", "--json")
    (row,) = json.loads(pending.out)  # type: ignore[attr-defined]
    assert row["kind"] == "test" and row["attempts"] == 1 and "refused the connection" in row["last_error"]
    assert "refused the connection" in cli("notify", "pending").out  # type: ignore[attr-defined]

    with SmtpSink(port=port) as back:
        retried = cli("notify", "retry")
        assert retried.code == 0, retried.err  # type: ignore[attr-defined]
        assert "1 sent, 0 not delivered" in retried.out  # type: ignore[attr-defined]
        (message,) = back.wait_for(1)
    assert message["Message-ID"].strip() == row["message_id"]
    assert cli("notify", "pending").out.strip() == "Every notification was delivered."  # type: ignore[attr-defined]


def test_notify_retry_fails_while_the_server_still_refuses(refused: int, cli: Callable[..., object]) -> None:
    cli("notify", "test")
    result = cli("notify", "retry")
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.error_line == (  # type: ignore[attr-defined]
        f"error: 1 notification(s) not delivered: SMTP server 127.0.0.1:{refused} refused the connection "
        "(is it running on that port?)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "nope"], "error: 'nope' is not a valid email address."),
        ([], "error: no one to send it to: give --to ADDRESS, add recipients on the Settings page"),
    ],
)
def test_notify_test_bad_input_is_one_line(
    cli: Callable[..., object], settings: Settings, args: list[str], message: str
) -> None:
    _smtp(settings, free_port())
    settings.CERTPANEL_NOTIFY_EMAILS = []
    result = cli("notify", "test", *args)
    assert result.code == 1 and result.error_line.startswith(message)  # type: ignore[attr-defined]
    assert not Notification.objects.exists()
