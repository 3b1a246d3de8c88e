from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# The settings page's choices (repository/policy.py reads them; the form offers exactly these).
RENEWAL_FRACTION_CHOICES = [
    ("1/3", "1/3 of the lifetime left"),
    ("1/2", "1/2 of the lifetime left"),
    ("1/4", "1/4 of the lifetime left"),
]
VERIFY_INTERVAL_CHOICES = [
    (3600, "every hour"),
    (3 * 3600, "every 3 hours"),
    (6 * 3600, "every 6 hours"),
    (12 * 3600, "every 12 hours"),
    (24 * 3600, "every 24 hours"),
]
EXPIRING_DAYS_MIN, EXPIRING_DAYS_MAX = 7, 90


class PanelSettings(models.Model):
    """Settings an admin changes in the UI (one row). Env settings live in certpanel/settings.py.

    The schedule policy's empty values (NULL) mean "the environment's": CERTPANEL_VERIFY_SWEEP_SECONDS and
    CERTPANEL_EXPIRING_DAYS stay the defaults of a panel whose admin never chose."""

    notify_emails = models.TextField(blank=True, help_text="Who gets renewal-failure and expiry emails.")
    sweep_stall_notified = models.BooleanField(default=False)
    renewal_fraction = models.CharField(
        max_length=8,
        choices=RENEWAL_FRACTION_CHOICES,
        default="1/3",
        help_text="ACME certificates renew when this fraction of their lifetime remains (1/2 under 10 days).",
    )
    verify_interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, choices=VERIFY_INTERVAL_CHOICES, help_text="Empty: CERTPANEL_VERIFY_SWEEP_SECONDS."
    )
    expiring_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(EXPIRING_DAYS_MIN), MaxValueValidator(EXPIRING_DAYS_MAX)],
        help_text="Empty: CERTPANEL_EXPIRING_DAYS.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "panel settings"

    def __str__(self) -> str:
        return "panel settings"

    @classmethod
    def load(cls) -> "PanelSettings":
        return cls.objects.get_or_create(pk=1)[0]
