from django.conf import settings
from django.db import models

from repository.models.acme import ChallengeType


class CertificateSource(models.TextChoices):
    SELF_SIGNED = "self_signed", "Self-signed"
    CSR = "csr", "CSR"
    IMPORTED = "imported", "Imported"
    ACME = "acme", "ACME"


class CertificateStatus(models.TextChoices):
    VALID = "valid", "Valid"
    EXPIRING = "expiring", "Expiring soon"
    EXPIRED = "expired", "Expired"
    PENDING = "pending", "Pending CSR"


class RenewalSource(models.TextChoices):
    """Where a certificate's renewal time comes from (repository/acme/renewals.py)."""

    LIFETIME = "lifetime", "lifetime rule"
    ARI = "ari", "CA's ARI window"


class Certificate(models.Model):
    """One repository entry: a certificate with its chain and key, or a CSR waiting for the CA.

    Everything the list page shows is stored in columns when the entry is written, so the list
    never parses PEM or touches keys.
    """

    name = models.CharField(max_length=255)
    source = models.CharField(max_length=16, choices=CertificateSource.choices)
    key = models.ForeignKey("repository.PrivateKey", null=True, blank=True, on_delete=models.PROTECT)
    is_default = models.BooleanField(default=False)

    certificate_pem = models.TextField(blank=True)
    chain_pem = models.TextField(blank=True)
    csr_pem = models.TextField(blank=True)

    common_name = models.CharField(max_length=255, blank=True)
    sans = models.JSONField(default=list, blank=True)
    search_text = models.TextField(blank=True)
    subject = models.TextField(blank=True)
    issuer = models.CharField(max_length=500, blank=True)
    serial = models.CharField(max_length=80, blank=True)
    fingerprint_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    fingerprint_sha1 = models.CharField(max_length=40, blank=True)
    key_type = models.CharField(max_length=16, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True, db_index=True)
    # When the status badge turns "expiring": relative to the lifetime, as renewal is (repository/acme/schedule.py).
    expiring_from = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    # Renewal (ACME certificates): renew_at is when the beat sweep picks the entry up.
    auto_renew = models.BooleanField(default=False)
    acme_account = models.ForeignKey(
        "repository.AcmeAccount", null=True, blank=True, on_delete=models.SET_NULL, related_name="certificates"
    )
    acme_profile = models.CharField(max_length=64, blank=True)
    # Renewal orders sign with this certificate's own key instead of a new one (e.g. for pinned or DANE-published
    # keys); off by default, as a new key a renewal is the safer habit.
    reuse_key = models.BooleanField(default=False)
    # How the CA validates this certificate's names, on every renewal as at issuance.
    acme_challenge = models.CharField(max_length=8, choices=ChallengeType.choices, default=ChallengeType.HTTP_01)
    renew_at = models.DateTimeField(null=True, blank=True)
    renewal_rule = models.CharField(max_length=200, blank=True)
    ari_window_start = models.DateTimeField(null=True, blank=True)
    ari_window_end = models.DateTimeField(null=True, blank=True)
    ari_next_check = models.DateTimeField(null=True, blank=True)
    renewal_source = models.CharField(max_length=8, choices=RenewalSource.choices, default=RenewalSource.LIFETIME)
    # Why the last ARI check fell back to the lifetime rule ("" when it answered): shown on the certificate's page.
    ari_error = models.CharField(max_length=300, blank=True)
    renewal_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    failure_notified = models.BooleanField(default=False)
    renewed_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="renewed_by"
    )
    expiry_warned_days = models.PositiveIntegerField(null=True, blank=True)
    # A certificate from a commercial CA: when the "re-issue at your CA" reminder went out (once per certificate).
    reissue_reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["name", "id"]),
            # The sweep's one query: due entries that renew themselves.
            models.Index(fields=["renew_at"], condition=models.Q(auto_renew=True), name="cert_due_renewal"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_pending(self) -> bool:
        return not self.certificate_pem


class ChainFetchStatus(models.TextChoices):
    QUEUED = "queued", "Fetching"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ChainFetch(models.Model):
    """Completing a stored certificate's chain from its AIA "CA Issuers" URL: a worker's job, never a request's.

    The entry is stored at once with what was uploaded; the worker adds what it fetched (if the entry still holds
    the same certificate and chain) and leaves its notes here for the certificate's page."""

    certificate = models.OneToOneField(Certificate, on_delete=models.CASCADE, related_name="chain_fetch")
    status = models.CharField(max_length=8, choices=ChainFetchStatus.choices, default=ChainFetchStatus.QUEUED)
    notes = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "dispatched_at"])]

    def __str__(self) -> str:
        return f"chain fetch of certificate #{self.certificate_id} ({self.status})"
