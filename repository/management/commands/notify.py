"""`manage.py notify …`: the notification outbox from the shell (README "CLI reference").

`notify test` queues a test email and sends it from this process at once, so the admin learns whether
the mail server took it; `pending` lists what is not delivered yet; `retry` sends every pending one now.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction

from certpanel.cli import AdminCommand
from certpanel.models import Notification
from certpanel.notifications import Attempt, mail_server, notification_deliver, notifications_deliver_pending
from repository import emails


def _row(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "subject": notification.subject,
        "to": list(notification.recipients),
        "message_id": notification.message_id,
        "status": notification.status,
        "queued_at": notification.created_at.isoformat(),
        "attempts": notification.attempts,
        "last_error": notification.last_error,
        "next_attempt_at": notification.next_attempt_at.isoformat() if notification.status == "pending" else None,
        "sent_at": notification.sent_at.isoformat() if notification.sent_at else None,
    }


class Command(AdminCommand):
    help = "Send a test email, list notifications not delivered yet, or send them again now."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        p = sub.add_parser("test", help="Send a test email now and say whether the mail server took it.")
        p.add_argument("--to", action="append", help="Recipient (repeatable); default: the notification recipients.")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("pending", help="List notifications not delivered yet, with their last error.")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("retry", help="Send every pending notification now, without waiting for its next try.")
        p.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_test(self, options: dict[str, Any]) -> None:
        try:
            to = emails.parse_recipients(" ".join(options["to"])) if options["to"] else emails.notify_to()
        except ValidationError as error:
            raise CommandError(error.messages[0]) from None
        with transaction.atomic():
            queued = emails.queue_test_email(to=to, requested_by="the notify test command", dispatch=False)
        if queued is None:
            raise CommandError(
                "no one to send it to: give --to ADDRESS, add recipients on the Settings page "
                "or set CERTPANEL_NOTIFY_EMAILS"
            )
        attempt = notification_deliver(queued.pk, force=True)
        queued.refresh_from_db()
        server = mail_server()
        if options["json"]:
            self.print_json({**_row(queued), "server": server.label, "accepted": attempt.status == "sent"})
        if attempt.status != "sent":
            raise CommandError(
                f"the test email was not accepted: {attempt.error or attempt.status}; it stays in the outbox and is "
                f"retried from {queued.next_attempt_at:%H:%M:%S} UTC (see `notify pending`)"
            )
        if not options["json"]:
            taken = f"taken by the SMTP server {server.label}" if server.host else f"written to {server.label}"
            self.stdout.write(f"Test email to {', '.join(queued.recipients)} {taken} (Message-ID {queued.message_id}).")

    def do_pending(self, options: dict[str, Any]) -> None:
        pending = Notification.objects.filter(status=Notification.Status.PENDING).order_by("created_at")
        if options["json"]:
            self.print_json([_row(notification) for notification in pending])
            return
        if not pending:
            self.stdout.write("Every notification was delivered.")
            return
        line = "{:<6} {:<17} {:>8} {:<20} {}"
        self.stdout.write(line.format("ID", "QUEUED (UTC)", "ATTEMPTS", "NEXT TRY (UTC)", "SUBJECT / LAST ERROR"))
        for n in pending:
            queued, next_try = f"{n.created_at:%Y-%m-%d %H:%M}", f"{n.next_attempt_at:%Y-%m-%d %H:%M:%S}"
            self.stdout.write(line.format(n.pk, queued, n.attempts, next_try, n.subject))
            self.stdout.write(f"{'':<54}{n.last_error or 'not tried yet'}")

    def do_retry(self, options: dict[str, Any]) -> None:
        attempts = notifications_deliver_pending(force=True)
        failed = [attempt for attempt in attempts if attempt.status == "failed"]
        if options["json"]:
            self.print_json([_attempt(attempt) for attempt in attempts])
        else:
            sent = sum(attempt.status == "sent" for attempt in attempts)
            busy = len(attempts) - sent - len(failed)
            self.stdout.write(f"{sent} sent, {len(failed)} not delivered, {busy} being sent by a worker or done.")
        if failed:
            raise CommandError(f"{len(failed)} notification(s) not delivered: {failed[-1].error}")


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {"id": attempt.notification_id, "result": attempt.status, "error": attempt.error}
