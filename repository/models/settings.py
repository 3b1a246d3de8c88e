from django.db import models


class PanelSettings(models.Model):
    """Settings an admin changes in the UI (one row). Env settings live in certpanel/settings.py."""

    notify_emails = models.TextField(blank=True, help_text="Who gets renewal-failure and expiry emails.")
    sweep_stall_notified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "panel settings"

    def __str__(self) -> str:
        return "panel settings"

    @classmethod
    def load(cls) -> "PanelSettings":
        return cls.objects.get_or_create(pk=1)[0]
