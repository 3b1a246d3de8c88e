"""repository/settings_views.py: the settings page's notification recipients (the test email: tests/test_notify_ui.py;
the ACME account form: tests/repository/acme/test_views.py)."""

from __future__ import annotations

from django.test import Client
from pytest_django import Settings

from repository.models import PanelSettings


def test_notification_recipients_are_validated_and_saved(staff_client: Client) -> None:
    bad = staff_client.post("/settings/notifications/", {"notify_emails": "ops@example.com, not-an-address"})
    assert "is not a valid email address" in bad.content.decode()
    staff_client.post("/settings/notifications/", {"notify_emails": "ops@example.com\nOPS@example.com dev@x.org"})
    assert PanelSettings.load().notify_emails == "ops@example.com\ndev@x.org"


def test_viewers_cannot_change_settings(viewer_client: Client) -> None:
    assert viewer_client.post("/settings/notifications/", {"notify_emails": "x@example.com"}).status_code == 403


def test_the_settings_page_says_when_renewals_and_checks_run(staff_client: Client, settings: Settings) -> None:
    settings.CERTPANEL_RENEWAL_SWEEP_SECONDS = 1800
    settings.CERTPANEL_VERIFY_SWEEP_SECONDS = 3 * 3600
    page = staff_client.get("/settings/").content.decode()
    section = page[page.index('id="renewal-policy"') : page.index('id="email-delivery"')]
    assert "every 30 minutes" in section and "every 3.0 hours" in section
    assert "30, 14, 7, 1 days before expiry" in section and "a third of its own lifetime" in section
