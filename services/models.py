from django.db import models

from services.daemons import ACTION_CHOICES, action_for
from services.protocols import CHOICES


class DaemonKind(models.TextChoices):
    POSTFIX = "postfix", "Postfix"
    DOVECOT = "dovecot", "Dovecot"
    VSFTPD = "vsftpd", "vsftpd"
    SLAPD = "slapd", "OpenLDAP slapd"
    NGINX = "nginx", "nginx"
    FILES = "files", "Files + commands"


class Listener(models.Model):
    """A secure port of a daemon and the repository certificate it serves.

    PROTECT on the certificate is what makes "delete refused while in use" hold even for
    code paths that forget to ask.
    """

    name = models.CharField(max_length=100, unique=True)
    protocol = models.CharField(max_length=16, choices=CHOICES)
    host = models.CharField(max_length=255, default="127.0.0.1", help_text="Where the panel connects to verify.")
    port = models.PositiveIntegerField()
    server_name = models.CharField(
        max_length=253, blank=True, help_text="The name clients use (SNI and hostname check); default: this host."
    )
    daemon = models.CharField(max_length=16, choices=DaemonKind.choices, default=DaemonKind.FILES)
    certificate = models.ForeignKey(
        "repository.Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="listeners"
    )
    # A passphrase-protected key, unlocked once at assignment and sealed again under the KEK alone,
    # because daemons cannot prompt for a passphrase at reload.
    deploy_key = models.ForeignKey(
        "repository.PrivateKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cert_path = models.CharField(max_length=500, blank=True)
    key_path = models.CharField(max_length=500, blank=True)
    chain_path = models.CharField(max_length=500, blank=True)
    fullchain_path = models.CharField(max_length=500, blank=True)
    combined_path = models.CharField(max_length=500, blank=True)
    owner = models.CharField(max_length=64, blank=True)
    group = models.CharField(max_length=64, blank=True)
    # What runs after the files are written: a named action (its argument lists are in services/daemons/).
    action = models.CharField(max_length=16, choices=ACTION_CHOICES, blank=True, default="")
    # Commands of its own, set on the host only (`manage.py services add/edit --check-cmd/--reload-cmd`), never
    # from the web; split into words with shlex and run without a shell. Empty: the action's.
    check_cmd = models.CharField(max_length=1000, blank=True, help_text="Set on the host only (services CLI).")
    reload_cmd = models.CharField(max_length=1000, blank=True, help_text="Set on the host only (services CLI).")
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_verify_ok = models.BooleanField(null=True, blank=True)
    last_report = models.JSONField(default=list, blank=True)
    alert_notified = models.BooleanField(default=False)
    # Set when a verification is queued, cleared when its result is stored: the page says "verification queued".
    verify_queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["port", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"

    @property
    def action_label(self) -> str:
        """What runs after the files are written, in words (host-set commands aside)."""
        return action_for(self.daemon, self.action).label


class SniCertificate(models.Model):
    """An extra certificate a listener serves to clients that ask for a specific name."""

    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="sni")
    server_name = models.CharField(max_length=253)
    certificate = models.ForeignKey("repository.Certificate", on_delete=models.PROTECT, related_name="sni_listeners")
    deploy_key = models.ForeignKey(
        "repository.PrivateKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["server_name"]
        constraints = [models.UniqueConstraint(fields=["listener", "server_name"], name="one_cert_per_sni_name")]

    def __str__(self) -> str:
        return f"{self.listener.name} / {self.server_name}"


class DeploymentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    WRITING = "writing", "Writing files"
    CHECKING = "checking", "Checking the configuration"
    RELOADING = "reloading", "Reloading"
    VERIFYING = "verifying", "Verifying"
    ROLLING_BACK = "rolling_back", "Rolling back"
    SUCCEEDED = "succeeded", "Succeeded"
    ROLLED_BACK = "rolled_back", "Rolled back"
    FAILED = "failed", "Failed"


FINAL_DEPLOYMENT_STATUSES = (DeploymentStatus.SUCCEEDED, DeploymentStatus.ROLLED_BACK, DeploymentStatus.FAILED)


class Deployment(models.Model):
    """One attempt to put certificates on a listener: a state machine (services/deployments.py) whose every
    transition is a line of ``log`` (the UI shows it).

    ``plan`` is stored before any daemon file is replaced: every target, where its new copy is staged and where
    its previous copy is kept, so whoever resumes a deployment whose worker died can finish it or roll it back.
    The lease keeps two workers from driving the same deployment at once.
    """

    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="deployments")
    certificate = models.ForeignKey("repository.Certificate", null=True, on_delete=models.SET_NULL, related_name="+")
    fingerprint_sha256 = models.CharField(max_length=64, blank=True)
    trigger = models.CharField(max_length=32, default="manual")
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.QUEUED)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    plan = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)  # when it was requested
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "lease_until"], name="deployment_status_lease")]

    def __str__(self) -> str:
        return f"deployment #{self.pk} of {self.listener.name}: {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_DEPLOYMENT_STATUSES


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class VerificationRun(models.Model):
    """One probe run over one or more listeners ("Verify", "Verify all", the schedule), for the Jobs page.

    The result of each listener stays on the listener (``last_report``); this row is the run's record: which
    listeners, how many failed, and one line per listener as its log. Pruned by the verify sweep (KEEP_*)."""

    trigger = models.CharField(max_length=40, default="manual")
    listener_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    failed = models.PositiveIntegerField(default=0)
    log = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["started_at"], name="verificationrun_started")]

    def __str__(self) -> str:
        return f"verification run #{self.pk} ({self.status})"
