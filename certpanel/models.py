from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """Last sign of life from a background process, so the UI can tell when workers are down."""

    name = models.CharField(max_length=40, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen:%Y-%m-%d %H:%M:%S}"


class BrokerOutage(models.Model):
    """The work queue could not be reached (one row while it lasts): the pages say so, nothing is lost.

    Written when a dispatch fails, deleted by the next good dispatch or by the worker's heartbeat.
    """

    since = models.DateTimeField()
    last_seen = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"broker unreachable since {self.since:%Y-%m-%d %H:%M:%S}"


class Notification(models.Model):
    """One email in the outbox: rendered when queued, sent by a worker until the SMTP server takes it.

    Written in the same transaction as whatever it reports (an incident marked notified, a warning level
    stored), so either both exist or neither. ``pending`` → ``sent`` is the only transition; a failed
    attempt keeps it pending with ``last_error`` and a later ``next_attempt_at`` (certpanel/notifications.py).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "not delivered yet"
        SENT = "sent", "taken by the mail server"

    kind = models.CharField(max_length=40)
    # One per notification, reused on every attempt: a duplicate from a retried send folds in mail clients.
    message_id = models.CharField(max_length=255, unique=True)
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=998)  # RFC 5322's line limit
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # While a sender holds the row nobody else sends it; the token tells whose lease it is.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="notification_due"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} ({self.status})"
