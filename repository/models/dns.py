from django.db import models
from django.db.models import Q


class TsigAlgorithm(models.TextChoices):
    HMAC_SHA256 = "hmac-sha256", "HMAC-SHA256"
    HMAC_SHA512 = "hmac-sha512", "HMAC-SHA512"
    HMAC_SHA384 = "hmac-sha384", "HMAC-SHA384"
    HMAC_SHA1 = "hmac-sha1", "HMAC-SHA1"


class DnsProvider(models.Model):
    """A zone the panel may change by RFC 2136 dynamic update: where to send updates, and the TSIG key.

    ``zone`` is explicit: the provider serves exactly this zone (and names inside it), whatever a resolver would
    say; the name a record goes to picks the provider with the longest matching zone (repository/dns/targets.py).
    The secret is sealed under the key-encryption key like private keys (repository/keystore.py), re-sealed by a
    KEK rotation, and never shown, logged or audited."""

    zone = models.CharField(max_length=253, unique=True, help_text="Lowercase ASCII, no trailing dot.")
    server = models.CharField(max_length=253, help_text="Host name or IP address of the primary that takes updates.")
    port = models.PositiveIntegerField(default=53)
    tsig_name = models.CharField(max_length=253)
    tsig_algorithm = models.CharField(max_length=16, choices=TsigAlgorithm.choices, default=TsigAlgorithm.HMAC_SHA256)
    tsig_secret_sealed = models.BinaryField()
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["zone"]
        verbose_name = "DNS provider"

    def __str__(self) -> str:
        return self.zone

    @property
    def name(self) -> str:  # what the audit log shows as the target
        return f"DNS provider for {self.zone}"

    @property
    def server_label(self) -> str:
        host = f"[{self.server}]" if ":" in self.server else self.server
        return host if self.port == 53 else f"{host}:{self.port}"


class DnsChallengeRecord(models.Model):
    """A TXT record the panel added (or was about to add) to a zone. The row is written before the update is sent,
    so a worker that dies between the two leaves a trace the sweep removes (repository/dns/records.py)."""

    provider = models.ForeignKey(DnsProvider, on_delete=models.CASCADE, related_name="records")
    zone = models.CharField(max_length=253)  # the zone the update went to (a provider's zone or one below it)
    fqdn = models.CharField(max_length=253)
    value = models.CharField(max_length=255)
    order = models.ForeignKey(
        "repository.AcmeOrder", null=True, blank=True, on_delete=models.SET_NULL, related_name="dns_records"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)  # the last failure to add or remove it, in plain words

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], name="dnsrecord_live", condition=Q(removed_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"TXT {self.fqdn} ({'removed' if self.removed_at else 'live'})"
