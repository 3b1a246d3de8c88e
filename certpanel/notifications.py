"""The outbox: every email the panel sends is first a Notification row, then sent by a worker until the
SMTP server takes it.

Queueing happens inside the caller's transaction (the incident marked notified and its email commit
together, or neither does), so an email is never lost and never sent for a rolled-back change.

Delivering is one attempt at one row: a conditional UPDATE takes a lease (nobody else sends the row
meanwhile, and the delivery task is killed before the lease ends), the message goes out with the row's
own Message-ID, and the row becomes ``sent``. On failure the row keeps ``pending`` with the error in
plain words and a later ``next_attempt_at`` (30 s, 1 min, 2 min, 5 min, … CERTPANEL_NOTIFY_RETRY_SECONDS).
The only duplicate possible is from a sender that dies after the server accepted the message and before
it marked the row: the copy carries the same Message-ID, so mail clients fold it.

Rendering stays in repository/emails.py; this module only stores and sends what it is given.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import F, Q
from django.utils import timezone

from certpanel.celery import app as celery_app
from certpanel.dispatch import dispatch_on_commit
from certpanel.leases import Lease, lease_free, rows_of
from certpanel.mail_errors import MailServer, mail_error_text
from certpanel.models import Notification

log = logging.getLogger(__name__)

DELIVER_TASK = "certpanel.notification_deliver"
# A row nobody has tried for this long is shown as undelivered even without an error (no worker?).
UNTRIED_GRACE = timedelta(minutes=5)
KEEP_SENT = timedelta(days=90)
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


@dataclass(frozen=True)
class Email:
    """A rendered email: what a Notification row stores."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt did: ``sent``, ``failed`` (``retry_in`` seconds), or why it did nothing."""

    notification_id: int
    status: str  # sent | failed | leased | not_due | already_sent | gone
    error: str = ""
    retry_in: float | None = None


@dataclass(frozen=True)
class Undelivered:
    count: int
    error: str


# ---------------------------------------------------------------- pure helpers


def retry_delay(attempts: int, schedule: Sequence[int]) -> timedelta:
    """Wait after the ``attempts``-th failure: schedule[attempts - 1], the last value for ever after."""
    return timedelta(seconds=schedule[min(max(attempts, 1), len(schedule)) - 1])


def lease_time_limit(lease_seconds: int) -> int:
    """The delivery task's hard time limit: a little under the lease, so a live sender never outlasts it."""
    return max(1, lease_seconds - max(1, lease_seconds // 10))


def message_id_new(from_email: str, kind: str) -> str:
    """``<…kind@domain-of-the-sender>``: unique, and on a domain the panel sends from."""
    domain = from_email.rpartition("@")[2].strip(" >") or settings.CERTPANEL_HOSTNAME
    # Short enough that the header rarely folds; 80 random bits and a unique index keep it unique.
    return f"<{secrets.token_hex(10)}.{kind.replace('_', '-')}@{domain}>"


def mail_server() -> MailServer:
    """Where mail goes with the current settings, for error messages and the Settings page."""
    backend = str(settings.EMAIL_BACKEND)
    if backend == SMTP_BACKEND:
        return MailServer(
            host=settings.EMAIL_HOST or "localhost",
            port=int(settings.EMAIL_PORT),
            timeout=int(settings.EMAIL_TIMEOUT or 0),
            user=settings.EMAIL_HOST_USER,
        )
    if backend == FILE_BACKEND:
        return MailServer("", 0, 0, file_path=str(getattr(settings, "EMAIL_FILE_PATH", "")))
    return MailServer("", 0, 0, backend=backend)


# ---------------------------------------------------------------- queue


def notification_queue(*, kind: str, to: Sequence[str], email: Email, dispatch: bool = True) -> Notification | None:
    """Store the email (in the caller's transaction) and hand it to a worker once that commits.

    None when there is nobody to send it to. ``dispatch=False`` when the caller delivers it itself
    (the `notify test` command); the periodic sweep still picks it up if that caller dies.
    """
    addresses = [address.strip() for address in to if address.strip()]
    if not addresses:
        return None
    row = Notification.objects.create(
        kind=kind,
        message_id=message_id_new(settings.DEFAULT_FROM_EMAIL, kind),
        recipients=addresses,
        subject=email.subject,
        body_text=email.text,
        body_html=email.html,
    )
    if dispatch:
        # By name: certpanel/tasks.py imports this module, and a web process need not import the tasks.
        dispatch_on_commit(celery_app.signature(DELIVER_TASK), row.pk)
    return row


# ---------------------------------------------------------------- deliver


LEASE = Lease(seconds=lambda: settings.CERTPANEL_NOTIFY_LEASE_SECONDS, owner="lease_token")


def _claim(notification_id: int, *, now: datetime, force: bool) -> str | None:
    """Take the lease if the row is pending, due (unless forced) and nobody holds it; counts the attempt."""
    due = Q() if force else Q(next_attempt_at__lte=now)
    rows = Notification.objects.filter(due, pk=notification_id, status=Notification.Status.PENDING)
    return LEASE.take(rows, now=now, attempts=F("attempts") + 1, last_attempt_at=now)


def _why_not(notification_id: int, *, now: datetime) -> Attempt:
    row = Notification.objects.filter(pk=notification_id).values("status", "lease_until").first()
    if row is None:
        return Attempt(notification_id, "gone")
    if row["status"] == Notification.Status.SENT:
        return Attempt(notification_id, "already_sent")
    if row["lease_until"] is not None and row["lease_until"] >= now:
        return Attempt(notification_id, "leased")
    return Attempt(notification_id, "not_due")


def email_message(row: Notification) -> EmailMultiAlternatives:
    """The message as sent on every attempt: same Message-ID and Date, so a duplicate folds."""
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(row.recipients),
        headers={
            "Auto-Submitted": "auto-generated",
            "Message-ID": row.message_id,
            "Date": format_datetime(row.created_at, usegmt=True),
        },
        connection=get_connection(fail_silently=False),
    )
    if row.body_html:
        message.attach_alternative(row.body_html, "text/html")
    return message


def notification_deliver(notification_id: int, *, force: bool = False) -> Attempt:
    """One attempt at sending one row. Safe to call twice, from anywhere: the lease decides who sends."""
    now = timezone.now()
    token = _claim(notification_id, now=now, force=force)
    if token is None:
        return _why_not(notification_id, now=now)
    row = Notification.objects.get(pk=notification_id)
    mine = rows_of(Notification, notification_id)
    try:
        email_message(row).send()
    except Exception as error:  # noqa: BLE001 - whatever the backend raised is the row's error; nothing is dropped
        text = mail_error_text(error, mail_server())
        delay = retry_delay(row.attempts, settings.CERTPANEL_NOTIFY_RETRY_SECONDS)
        LEASE.release(mine, token, last_error=text, next_attempt_at=timezone.now() + delay)
        log.warning(
            "notification #%s (%s): attempt %d failed, next in %s: %s", row.pk, row.kind, row.attempts, delay, text
        )
        return Attempt(notification_id, "failed", text, delay.total_seconds())
    sent = {"status": Notification.Status.SENT, "sent_at": timezone.now(), "last_error": ""}
    if not LEASE.release(mine, token, **sent):
        log.warning("notification #%s was sent after its lease ran out: another sender may have sent it too", row.pk)
    log.info("notification #%s (%s) sent to %s", row.pk, row.kind, ", ".join(row.recipients))
    return Attempt(notification_id, "sent")


def notification_resend(notification_id: int, *, now: datetime | None = None) -> bool:
    """ "Resend" on the Jobs page: an undelivered row is due at once and handed to a worker (False when it was
    already sent or is gone). Backoff starts over only if this attempt fails too."""
    updated = Notification.objects.filter(pk=notification_id, status=Notification.Status.PENDING).update(
        next_attempt_at=now or timezone.now()
    )
    if updated:
        dispatch_on_commit(celery_app.signature(DELIVER_TASK), notification_id)
    return bool(updated)


def notifications_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending rows whose next attempt is due and that nobody holds (the partial index notification_due)."""
    now = now or timezone.now()
    rows = Notification.objects.filter(lease_free(now), status=Notification.Status.PENDING, next_attempt_at__lte=now)
    return list(rows.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def notifications_deliver_pending(*, force: bool = False) -> list[Attempt]:
    """Every pending row, one after the other, in this process (the CLI, and tests). ``force`` skips backoff."""
    pending = Notification.objects.filter(status=Notification.Status.PENDING).order_by("pk")
    return [notification_deliver(pk, force=force) for pk in pending.values_list("pk", flat=True)]


def notifications_prune(*, now: datetime | None = None) -> int:
    """Sent rows are kept KEEP_SENT for the record, then deleted."""
    cutoff = (now or timezone.now()) - KEEP_SENT
    return Notification.objects.filter(status=Notification.Status.SENT, sent_at__lt=cutoff).delete()[0]


# ---------------------------------------------------------------- read (pages: never a write)


def _undelivered_rows(now: datetime) -> Q:
    return Q(status=Notification.Status.PENDING) & (~Q(last_error="") | Q(created_at__lt=now - UNTRIED_GRACE))


def undelivered_summary(*, now: datetime | None = None) -> Undelivered | None:
    """For the banner: how many failed or waited too long, and the latest error."""
    rows = Notification.objects.filter(_undelivered_rows(now or timezone.now()))
    count = rows.count()
    if not count:
        return None
    error = rows.exclude(last_error="").order_by("-last_attempt_at").values_list("last_error", flat=True).first()
    return Undelivered(count, error or "no worker has tried to send them yet (is the Celery worker running?)")


def undelivered(*, now: datetime | None = None, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(_undelivered_rows(now or timezone.now())).order_by("created_at")[:limit])


def last_of_kind(kind: str) -> Notification | None:
    return Notification.objects.filter(kind=kind).order_by("-created_at", "-pk").first()
