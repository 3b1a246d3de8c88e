from django.conf import settings
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


class AuditEvent(models.Model):
    """One thing someone did: who, what, to what, when and from where. Written by the action that did it, in its
    transaction (certpanel/audit), so a rolled-back action leaves no row; never changed or deleted by the panel.

    The actor and the target are snapshots as well as references: a deleted user or certificate stays readable.
    ``detail`` never holds a secret (key, passphrase, password, TSIG or EAB secret).
    """

    class Action(models.TextChoices):
        LOGIN = "login", "logged in"
        LOGIN_FAILED = "login_failed", "failed login"
        REAUTH_FAILED = "reauth_failed", "failed “confirm it's you”"
        LOGOUT = "logout", "logged out"
        PASSWORD_CHANGE = "password_change", "changed own password"
        TWOFACTOR_SETUP = "twofactor_setup", "set up two-factor login"
        TWOFACTOR_CODES = "twofactor_codes", "made new recovery codes"
        TWOFACTOR_RESET = "twofactor_reset", "reset two-factor login"
        CERTIFICATE_CREATE = "certificate_create", "created a self-signed certificate"
        CSR_CREATE = "csr_create", "generated a CSR"
        CSR_COMPLETE = "csr_complete", "completed a CSR"
        CERTIFICATE_IMPORT = "certificate_import", "imported a certificate"
        CERTIFICATE_ORDER = "certificate_order", "ordered an ACME certificate"
        CERTIFICATE_RENEW = "certificate_renew", "ordered a renewal"
        CERTIFICATE_ISSUE = "certificate_issue", "stored an issued certificate"
        CERTIFICATE_DELETE = "certificate_delete", "deleted a certificate"
        KEY_EXPORT = "key_export", "exported a private key"
        KEK_ROTATE = "kek_rotate", "rotated the key-encryption key"
        LISTENER_ADD = "listener_add", "added a listener"
        LISTENER_CHANGE = "listener_change", "changed a listener"
        LISTENER_COMMANDS = "listener_commands", "changed a listener's host commands"
        LISTENER_DELETE = "listener_delete", "removed a listener"
        CERTIFICATE_ASSIGN = "certificate_assign", "assigned a certificate"
        SNI_REMOVE = "sni_remove", "removed an SNI certificate"
        DEPLOYMENT_REQUEST = "deployment_request", "requested a deployment"
        VERIFY_REQUEST = "verify_request", "requested a verification"
        SETTINGS_CHANGE = "settings_change", "changed settings"
        TEST_EMAIL = "test_email", "queued a test email"
        ACME_ACCOUNT_REGISTER = "acme_account_register", "asked to register an ACME account"
        ACME_ACCOUNT_CREATE = "acme_account_create", "stored an ACME account"
        USER_ADD = "user_add", "added a user"
        USER_CHANGE = "user_change", "changed a user"
        USER_DEACTIVATE = "user_deactivate", "deactivated a user"
        USER_ACTIVATE = "user_activate", "reactivated a user"
        USER_PASSWORD_RESET = "user_password_reset", "reset a user's password"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The user name when it happened, or what acted without a login: "system", "worker", "cli:<command>".
    actor_name = models.CharField(max_length=160)
    action = models.CharField(max_length=40, choices=Action.choices)
    target_type = models.CharField(max_length=60, blank=True)  # app_label.model, e.g. "repository.certificate"
    target_id = models.CharField(max_length=40, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    detail = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "-at"], name="audit_action_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target_label}".strip()
