"""Notification emails: queued in the outbox, then delivered (in the test) over real SMTP to an aiosmtpd sink
(and once through the default file backend)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Engine
from django.template.base import FilterExpression
from django.template.loader_tags import ExtendsNode
from pytest_django import Settings

from certpanel import settings as project_settings
from certpanel.models import Notification
from certpanel.notifications import notifications_deliver_pending
from repository import emails
from repository.emails import CertificateNotice
from tests.support.smtp import SmtpSink

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TEMPLATES = Path(project_settings.BASE_DIR) / "templates" / "emails"
KINDS = sorted(path.name.removesuffix("_body.html") for path in TEMPLATES.glob("*_body.html"))
FROM = "certpanel@panel.example.net"
ADMIN = "admin@example.org"
ERROR = "DNS problem: NXDOMAIN looking up TXT for _acme-challenge.mail.example.com"


def _notice(source: str = "acme", not_after: datetime | None = NOW + timedelta(days=12, hours=3)) -> CertificateNotice:
    return CertificateNotice(
        certificate_id=42,
        name="mail.example.com",
        names=["mail.example.com", "smtp.example.com", "imap.example.com"],
        not_after=not_after,
        source=source,
    )


@pytest.fixture
def sink(db: None, settings: Settings) -> Iterator[SmtpSink]:
    with SmtpSink() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = smtp.port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5
        settings.DEFAULT_FROM_EMAIL = FROM
        settings.CERTPANEL_BASE_URL = "https://panel.example.net"
        yield smtp


def _only(sink: SmtpSink) -> tuple[EmailMessage, str, str]:
    """The single received message, its text part and its HTML part; checks what every email shares."""
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
    [message] = sink.wait_for(1)
    assert len(sink.messages) == 1
    assert message["From"] == FROM
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"].startswith("[certpanel] ")
    assert "\n" not in message["Subject"]
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert "PRIVATE KEY" not in message.as_string()
    return message, text, html


def _assert_in_both(text: str, html: str, *facts: str) -> None:
    for fact in facts:
        assert fact in text, f"{fact!r} missing from the text part"
        assert fact in html, f"{fact!r} missing from the HTML part"


# ---------------------------------------------------------------- renewal failed


def test_renewal_failed_email_gives_error_attempts_next_attempt_days_left_and_link(sink: SmtpSink) -> None:
    queued = emails.queue_renewal_failed(
        to=[ADMIN], notice=_notice(), error=ERROR, attempts=3, next_attempt=NOW + timedelta(hours=6), now=NOW
    )

    assert isinstance(queued, Notification)
    message, text, html = _only(sink)
    assert message["To"] == ADMIN
    assert message["Subject"] == "[certpanel] Renewal of mail.example.com failed (expires in 12 days)"
    _assert_in_both(
        text,
        html,
        "mail.example.com, smtp.example.com, imap.example.com",
        ERROR,
        "2025-06-01 18:00 UTC",  # next attempt
        "2025-06-13 15:00 UTC",  # expiry
        "https://panel.example.net/certificates/42/",
    )
    assert "Attempts so far: 3" in text and ">3</td>" in html
    assert "Days left:       12" in text and ">12</td>" in html
    assert "EXPIRED" not in text and "EXPIRED" not in html


def test_renewal_failed_email_says_expired_clearly_once_past_expiry(sink: SmtpSink) -> None:
    emails.queue_renewal_failed(
        to=[ADMIN],
        notice=_notice(not_after=NOW - timedelta(hours=2)),
        error=ERROR,
        attempts=9,
        next_attempt=None,
        now=NOW,
    )

    message, text, html = _only(sink)
    assert message["Subject"] == "[certpanel] Renewal of mail.example.com failed (EXPIRED)"
    _assert_in_both(text, html, "EXPIRED", "none scheduled", "2025-06-01 10:00 UTC")


def test_renewal_failed_error_is_escaped_in_html_and_verbatim_in_text(sink: SmtpSink) -> None:
    emails.queue_renewal_failed(
        to=[ADMIN], notice=_notice(), error="bad <b>order</b> & state", attempts=1, next_attempt=None, now=NOW
    )

    _, text, html = _only(sink)
    assert "bad <b>order</b> & state" in text
    assert "bad &lt;b&gt;order&lt;/b&gt; &amp; state" in html and "<b>order" not in html


def test_one_message_goes_to_every_recipient(sink: SmtpSink) -> None:
    emails.queue_renewal_failed(
        to=[ADMIN, "ops@example.org"], notice=_notice(), error=ERROR, attempts=1, next_attempt=None, now=NOW
    )

    message, _, _ = _only(sink)
    assert message["To"] == f"{ADMIN}, ops@example.org"
    assert sink.envelopes[0].rcpt_tos == (ADMIN, "ops@example.org")
    assert sink.envelopes[0].mail_from == FROM


# ---------------------------------------------------------------- renewal recovered


def test_renewal_recovered_email_gives_new_expiry_and_attempts(sink: SmtpSink) -> None:
    new_not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=90)

    queued = emails.queue_renewal_recovered(to=[ADMIN], notice=_notice(), attempts=4, new_not_after=new_not_after)

    assert isinstance(queued, Notification)
    message, text, html = _only(sink)
    assert message["To"] == ADMIN
    assert message["Subject"] == "[certpanel] mail.example.com renewed"
    _assert_in_both(
        text,
        html,
        "renewed after 4 attempts",
        new_not_after.strftime("%Y-%m-%d %H:%M UTC"),
        "mail.example.com, smtp.example.com, imap.example.com",
        "https://panel.example.net/certificates/42/",
    )


# ---------------------------------------------------------------- expiry warning


@pytest.mark.parametrize(
    ("source", "advice"),
    [
        ("self_signed", "Create a new self-signed certificate and assign it"),
        ("csr", "Renew it with your CA and upload the new certificate"),
        ("imported", "Renew it with your CA and upload the new certificate"),
    ],
)
def test_expiry_warning_says_days_left_and_what_to_do_for_the_source(sink: SmtpSink, source: str, advice: str) -> None:
    notice = _notice(source=source, not_after=NOW + timedelta(days=7, minutes=1))

    queued = emails.queue_expiry_warning(to=[ADMIN], notice=notice, now=NOW)

    assert isinstance(queued, Notification)
    message, text, html = _only(sink)
    assert message["To"] == ADMIN
    assert message["Subject"] == "[certpanel] mail.example.com expires in 7 days"
    _assert_in_both(
        text,
        html,
        advice,
        "2025-06-08 12:01 UTC",
        "mail.example.com, smtp.example.com, imap.example.com",
        "https://panel.example.net/certificates/42/",
    )
    assert "Days left:   7" in text and ">7</td>" in html


def test_expiry_warning_for_an_expired_certificate_says_expired(sink: SmtpSink) -> None:
    emails.queue_expiry_warning(to=[ADMIN], notice=_notice("imported", NOW - timedelta(days=3)), now=NOW)

    message, text, html = _only(sink)
    assert message["Subject"] == "[certpanel] mail.example.com has EXPIRED"
    _assert_in_both(text, html, "EXPIRED", "2025-05-29 12:00 UTC")


# ---------------------------------------------------------------- renewal sweep


def test_sweep_stalled_email_says_since_when_and_asks_about_celery_beat(sink: SmtpSink) -> None:
    queued = emails.queue_sweep_stalled(to=[ADMIN], last_sweep=NOW - timedelta(hours=26, minutes=30), now=NOW)

    assert isinstance(queued, Notification)
    message, text, html = _only(sink)
    assert message["To"] == ADMIN
    assert message["Subject"] == "[certpanel] No certificate renewal sweep for 26 hours"
    assert "No renewal sweep has run since 2025-05-31 09:30 UTC (26 hours ago)" in text
    _assert_in_both(text, html, "2025-05-31 09:30 UTC", "(26 hours ago)", "is Celery beat running?")
    _assert_in_both(text, html, "https://panel.example.net/")


def test_sweep_stalled_email_when_no_sweep_ever_ran(sink: SmtpSink) -> None:
    emails.queue_sweep_stalled(to=[ADMIN], last_sweep=None, now=NOW)

    message, text, html = _only(sink)
    assert message["Subject"] == "[certpanel] No certificate renewal sweep has run yet"
    _assert_in_both(text, html, "is Celery beat running?")


def test_sweep_stalled_counts_days_after_two_days(sink: SmtpSink) -> None:
    emails.queue_sweep_stalled(to=[ADMIN], last_sweep=NOW - timedelta(days=3, hours=5), now=NOW)

    message, _, _ = _only(sink)
    assert message["Subject"] == "[certpanel] No certificate renewal sweep for 3 days"


def test_sweep_recovered_email_says_when_the_last_sweep_ran(sink: SmtpSink) -> None:
    queued = emails.queue_sweep_recovered(to=[ADMIN], last_sweep=NOW)

    assert isinstance(queued, Notification)
    message, text, html = _only(sink)
    assert message["To"] == ADMIN
    assert message["Subject"] == "[certpanel] Certificate renewal sweeps are running again"
    _assert_in_both(text, html, "2025-06-01 12:00 UTC", "https://panel.example.net/")


# ---------------------------------------------------------------- no recipients


SENDERS: dict[str, Callable[[list[str]], Notification | None]] = {
    "renewal_failed": lambda to: emails.queue_renewal_failed(
        to=to, notice=_notice(), error=ERROR, attempts=1, next_attempt=None, now=NOW
    ),
    "renewal_recovered": lambda to: emails.queue_renewal_recovered(
        to=to, notice=_notice(), attempts=1, new_not_after=NOW
    ),
    "expiry_warning": lambda to: emails.queue_expiry_warning(to=to, notice=_notice("self_signed"), now=NOW),
    "sweep_stalled": lambda to: emails.queue_sweep_stalled(to=to, last_sweep=NOW, now=NOW),
    "sweep_recovered": lambda to: emails.queue_sweep_recovered(to=to, last_sweep=NOW),
}


@pytest.mark.parametrize("kind", SENDERS)
@pytest.mark.parametrize("to", [[], ["", "  "]], ids=["empty", "blank"])
def test_no_recipients_queues_nothing_and_returns_none(sink: SmtpSink, kind: str, to: list[str]) -> None:
    assert SENDERS[kind](to) is None

    assert not Notification.objects.exists()
    assert notifications_deliver_pending() == []
    with pytest.raises(TimeoutError):
        sink.wait_for(1, timeout=0.2)


# ---------------------------------------------------------------- file backend (the default without EMAIL_HOST)


def test_file_backend_default_writes_each_email_to_a_file(db: None, settings: Settings, tmp_path: Path) -> None:
    if project_settings.EMAIL_HOST:
        pytest.skip("EMAIL_HOST is set in this environment, so SMTP is the default backend")
    # What certpanel/settings.py chose (pytest-django swaps in locmem while tests run).
    assert project_settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend"
    assert Path(project_settings.EMAIL_FILE_PATH) == Path(settings.DATA_DIR) / "emails"
    settings.EMAIL_BACKEND = project_settings.EMAIL_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "emails")

    assert emails.queue_renewal_recovered(to=[ADMIN], notice=_notice(), attempts=2, new_not_after=NOW) is not None
    assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]

    [written] = (tmp_path / "emails").iterdir()
    content = written.read_text()
    assert "Subject: [certpanel] mail.example.com renewed" in content
    assert f"To: {ADMIN}" in content and "text/html" in content


# ---------------------------------------------------------------- pure helpers


def test_certificate_url_is_absolute(settings: Settings) -> None:
    settings.CERTPANEL_BASE_URL = "https://panel.example.net"
    assert emails.certificate_url(7) == "https://panel.example.net/certificates/7/"


def test_recipients_merge_settings_and_extra_without_duplicates_or_blanks(settings: Settings) -> None:
    settings.CERTPANEL_NOTIFY_EMAILS = ["Admin@Example.org", " ", "ops@example.org"]

    result = emails.recipients(["admin@example.org", "", "dev@example.org", "OPS@example.org "])

    assert result == ["Admin@Example.org", "ops@example.org", "dev@example.org"]


def test_recipients_without_extra_are_the_settings_list(settings: Settings) -> None:
    settings.CERTPANEL_NOTIFY_EMAILS = []
    assert emails.recipients() == []
    settings.CERTPANEL_NOTIFY_EMAILS = ["a@example.org"]
    assert emails.recipients() == ["a@example.org"]


def test_parse_recipients_splits_on_commas_whitespace_and_newlines() -> None:
    text = " a@example.org, b@example.org\nc@example.org\td@example.org,,\n\nA@example.org; e@example.org "

    assert emails.parse_recipients(text) == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
        "d@example.org",
        "e@example.org",
    ]
    assert emails.parse_recipients("") == []
    assert emails.parse_recipients(" \n, ") == []


def test_parse_recipients_names_the_first_invalid_address() -> None:
    with pytest.raises(ValidationError) as caught:
        emails.parse_recipients("ok@example.org, not-an-address, also@bad@example.org")

    assert caught.value.messages == ["'not-an-address' is not a valid email address."]


# ---------------------------------------------------------------- templates: one base, one triplet per email


def test_every_email_is_a_subject_a_text_body_and_an_html_body() -> None:
    parts = ("subject.txt", "body.txt", "body.html")
    assert {path.name for path in TEMPLATES.iterdir()} == {"base.html", "base.txt"} | {
        f"{kind}_{part}" for kind in KINDS for part in parts
    }
    assert len(KINDS) >= 8  # the eight emails of today, so an empty glob cannot pass


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("suffix", "base"), [("html", "emails/base.html"), ("txt", "emails/base.txt")])
def test_every_body_template_extends_the_base(kind: str, suffix: str, base: str) -> None:
    template = Engine.get_default().get_template(f"emails/{kind}_body.{suffix}")
    [extends] = template.nodelist.get_nodes_by_type(ExtendsNode)
    assert isinstance(extends, ExtendsNode) and isinstance(extends.parent_name, FilterExpression)
    assert extends.parent_name.resolve(Context()) == base


@pytest.mark.parametrize("kind", KINDS)
def test_every_html_body_has_the_one_skeleton(kind: str, settings: Settings) -> None:
    settings.CERTPANEL_BASE_URL = "https://panel.example.net"
    context = {"name": "mail.example.com", "listener": "Postfix", "address": "127.0.0.1:25", "url": "https://u/"}
    html = emails.render(kind, context).html
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">') and html.endswith("</body>\n</html>\n")
    assert html.count("<h1 ") == 1 and html.count('<a href="') == 1
    assert html.count("Sent by certpanel (https://panel.example.net/).</p>") == 1
