from django.conf import settings
from django.db import models
from django.db.models import Q


class AcmeAccount(models.Model):
    """An account at an RFC 8555 CA. Its key is sealed like every other key (repository/keystore.py)."""

    name = models.CharField(max_length=100)
    directory_url = models.URLField(max_length=500)
    ca_bundle_pem = models.TextField(blank=True, help_text="PEM trusted for the directory's TLS (private CAs).")
    email = models.EmailField(blank=True)
    key = models.ForeignKey("repository.PrivateKey", on_delete=models.PROTECT)
    uri = models.URLField(max_length=500, blank=True)
    terms_of_service = models.URLField(max_length=500, blank=True)
    eab_kid = models.CharField(max_length=200, blank=True)
    profiles = models.JSONField(default=dict, blank=True, help_text="Profiles the directory advertises.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.email or 'no contact'})"


class OrderStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    ORDER_CREATED = "order_created", "Order created"
    CHALLENGES_PUBLISHED = "challenges_published", "Challenges published"
    VALIDATING = "validating", "Validating"
    FINALIZING = "finalizing", "Finalizing"
    ISSUED = "issued", "Issued"
    FAILED = "failed", "Failed"


class ChallengeType(models.TextChoices):
    """How the CA checks control of a name: a file on port 80, or a TXT record (the only way to a wildcard)."""

    HTTP_01 = "http-01", "HTTP-01"
    DNS_01 = "dns-01", "DNS-01"


ACTIVE_STATUSES = [
    OrderStatus.QUEUED,
    OrderStatus.ORDER_CREATED,
    OrderStatus.CHALLENGES_PUBLISHED,
    OrderStatus.VALIDATING,
    OrderStatus.FINALIZING,
]


class AcmeOrder(models.Model):
    """One attempt to get a certificate: a state machine whose every step is an AcmeOrderEvent.

    The key is generated and stored before the CSR is sent, and ``order_url`` is stored as soon
    as the CA returns it, so a task that dies is resumed rather than restarted blind.
    """

    account = models.ForeignKey(AcmeAccount, on_delete=models.PROTECT, related_name="orders")
    hostnames = models.JSONField()
    key_type = models.CharField(max_length=16)
    profile = models.CharField(max_length=64, blank=True)
    auto_renew = models.BooleanField(default=True)
    # The certificate's "keep the same private key on renewal": a renewal order signs with the replaced one's key.
    reuse_key = models.BooleanField(default=False)
    # The certificate's challenge type; a renewal and a Retry take it over (repository/acme/dns_challenges.py: DNS-01).
    challenge_type = models.CharField(max_length=8, choices=ChallengeType.choices, default=ChallengeType.HTTP_01)
    key = models.ForeignKey("repository.PrivateKey", null=True, blank=True, on_delete=models.PROTECT)
    replaces = models.ForeignKey(
        "repository.Certificate", null=True, blank=True, on_delete=models.SET_NULL, related_name="renewal_orders"
    )
    certificate = models.OneToOneField(
        "repository.Certificate", null=True, blank=True, on_delete=models.SET_NULL, related_name="acme_order"
    )
    status = models.CharField(max_length=24, choices=OrderStatus.choices, default=OrderStatus.QUEUED)
    order_url = models.URLField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    problem_type = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=32, blank=True)
    # The sorted names as one digest: the key of "one active order per account and names" (a second click,
    # or a retry after an error page, finds the first order instead of ordering a second certificate).
    names_digest = models.CharField(max_length=64, blank=True, editable=False)
    # When the order was last handed to the broker; NULL while it waits for the work queue to come back.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One running renewal per certificate: a click and the beat sweep cannot both order.
            models.UniqueConstraint(
                fields=["replaces"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="one_active_renewal_per_certificate",
            ),
            models.UniqueConstraint(
                fields=["account", "names_digest"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="one_active_order_per_names",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"order #{self.pk} for {', '.join(self.hostnames)} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class AcmeOrderEvent(models.Model):
    order = models.ForeignKey(AcmeOrder, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=24, choices=OrderStatus.choices)
    message = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.status}"


class AcmeChallenge(models.Model):
    """An HTTP-01 answer any web process can serve from the database (several nodes behind a balancer)."""

    token = models.CharField(max_length=200, unique=True)
    key_authorization = models.CharField(max_length=400)
    order = models.ForeignKey(AcmeOrder, on_delete=models.CASCADE, related_name="challenges")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.token


class RegistrationStatus(models.TextChoices):
    QUEUED = "queued", "Registering"
    REGISTERED = "registered", "Registered"
    FAILED = "failed", "Failed"


class AcmeRegistration(models.Model):
    """An account registration asked for on the settings page and carried out by a worker: the directory fetch and
    newAccount go to a URL an admin typed, so they never run inside a request (repository/acme/registrations.py).

    The key is generated and stored when the admin asks, so a second worker taking over registers the same key (the
    CA answers with the same account). The EAB HMAC key is sealed like a private key and erased once the row ends.
    """

    directory_url = models.URLField(max_length=500)
    name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    ca_bundle_pem = models.TextField(blank=True)
    agree_tos = models.BooleanField(default=False)
    eab_kid = models.CharField(max_length=200, blank=True)
    eab_hmac_sealed = models.BinaryField(blank=True, default=b"")
    key = models.ForeignKey("repository.PrivateKey", null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=12, choices=RegistrationStatus.choices, default=RegistrationStatus.QUEUED)
    error = models.TextField(blank=True)
    # As the directory published it: shown as a link only when it is http(s).
    terms_of_service = models.TextField(blank=True)
    account = models.ForeignKey(AcmeAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    # When last handed to the broker; NULL while it waits for the work queue (the resume sweep sends it).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "dispatched_at"])]

    def __str__(self) -> str:
        return f"registration #{self.pk} at {self.directory_url} ({self.status})"

    @property
    def needs_agreement(self) -> bool:
        """It ended because the CA wants its terms agreed to: the pages show them and an "I agree" step."""
        return self.status == RegistrationStatus.FAILED and bool(self.terms_of_service) and not self.agree_tos
