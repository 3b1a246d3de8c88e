"""repository/settings_views.py: the settings page's notification recipients and its renewal and check policy (the
test email: tests/test_notify_ui.py; the ACME account form: tests/repository/acme/test_views.py; the policy's
re-plan: tests/repository/test_policy.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django import Settings

from certpanel.models import AuditEvent
from repository.models import PanelSettings
from repository.policy import schedule_policy

POLICY = {"renewal_fraction": "1/4", "verify_interval": "3600", "expiring_days": "45"}


@pytest.fixture
def operator_client(db: None) -> Client:
    user = get_user_model().objects.create_user("olga", password="not-used-here", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def _policy_card(client: Client) -> str:
    page = client.get("/settings/").content.decode()
    return page[page.index('id="renewal-policy"') : page.index('id="email-delivery"')]


def test_notification_recipients_are_validated_and_saved(staff_client: Client) -> None:
    bad = staff_client.post("/settings/notifications/", {"notify_emails": "ops@example.com, not-an-address"})
    assert "is not a valid email address" in bad.content.decode()
    staff_client.post("/settings/notifications/", {"notify_emails": "ops@example.com\nOPS@example.com dev@x.org"})
    assert PanelSettings.load().notify_emails == "ops@example.com\ndev@x.org"


def test_viewers_cannot_change_settings(viewer_client: Client) -> None:
    assert viewer_client.post("/settings/notifications/", {"notify_emails": "x@example.com"}).status_code == 403
    assert viewer_client.post("/settings/schedule/", POLICY).status_code == 403
    assert not PanelSettings.objects.exists()


def test_the_settings_page_says_when_renewals_and_checks_run_and_that_the_environment_decides(
    staff_client: Client, settings: Settings
) -> None:
    settings.CERTPANEL_RENEWAL_SWEEP_SECONDS = 1800
    settings.CERTPANEL_VERIFY_SWEEP_SECONDS = 3 * 3600
    section = _policy_card(staff_client)
    assert "every 30 minutes" in section and "probed every 3 hours" in section
    assert "30, 14, 7, 1 days before expiry" in section and "renews when 1/3 of its own lifetime is left" in section
    assert "A 90-day certificate renews about 30 days before it expires, a 45-day one 15, a 6-day one 3." in section
    assert "(default: CERTPANEL_VERIFY_SWEEP_SECONDS)" in section and "(default: CERTPANEL_EXPIRING_DAYS)" in section
    assert 'action="/settings/schedule/"' in section
    assert '<option value="" selected>every 3 hours (default: CERTPANEL_VERIFY_SWEEP_SECONDS)</option>' in section


def test_an_admin_saves_the_policy_and_the_page_shows_it(staff_client: Client) -> None:
    response = staff_client.post("/settings/schedule/", POLICY, follow=True)
    assert response.redirect_chain[-1][0] == "/settings/#renewal-policy"
    assert "Renewal and check policy saved." in response.content.decode()
    policy = schedule_policy()
    assert (str(policy.fraction), policy.verify_interval, policy.expiring_days) == ("1/4", timedelta(hours=1), 45)
    section = _policy_card(staff_client)
    assert "renews when 1/4 of its own lifetime is left" in section and "a 45-day one 11" in section
    assert "probed every 1 hour" in section and '"expiring" 45 days before the end' in section
    assert "(default: CERTPANEL" not in section.split("<form")[0]
    assert '<option value="3600" selected>' in section and 'value="45"' in section
    event = AuditEvent.objects.get(action=AuditEvent.Action.SETTINGS_CHANGE)
    assert event.actor_name == "alice"
    assert "renewal point '1/3 of the lifetime left' → '1/4 of the lifetime left'" in event.detail
    assert "probe interval '6 hours (default)' → '1 hour'" in event.detail


def test_operators_see_the_policy_but_no_form_and_cannot_post(operator_client: Client) -> None:
    section = _policy_card(operator_client)
    assert "renews when 1/3 of its own lifetime is left" in section and "probed every 6 hours" in section
    assert "<form" not in section and "Only admins change the renewal point" in section
    assert operator_client.post("/settings/schedule/", POLICY).status_code == 403
    assert (
        not PanelSettings.objects.exists()
        and not AuditEvent.objects.filter(action=AuditEvent.Action.SETTINGS_CHANGE).exists()
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("renewal_fraction", "1/5", "Choose one of the renewal points offered (1/3, 1/2 or 1/4)."),
        ("renewal_fraction", "1/0", "Choose one of the renewal points offered (1/3, 1/2 or 1/4)."),
        ("renewal_fraction", "", "This field is required."),
        ("verify_interval", "60", "Choose one of the intervals offered (1, 3, 6, 12 or 24 hours)."),
        ("verify_interval", "3600.5", "Choose one of the intervals offered (1, 3, 6, 12 or 24 hours)."),
        ("verify_interval", "x" * 5000, "Choose one of the intervals offered (1, 3, 6, 12 or 24 hours)."),
        ("expiring_days", "6", "Enter 7 to 90 days."),
        ("expiring_days", "91", "Enter 7 to 90 days."),
        ("expiring_days", "99999999999999999999999", "Enter 7 to 90 days."),
        ("expiring_days", "-7", "Enter 7 to 90 days."),
        ("expiring_days", "thirty", "Enter a whole number of days, 7 to 90."),
        ("expiring_days", "30\x00", "Enter a whole number of days, 7 to 90."),
    ],
)
def test_a_tampered_value_is_refused_next_to_its_field_and_nothing_is_saved(
    staff_client: Client, field: str, value: str, message: str
) -> None:
    response = staff_client.post("/settings/schedule/", {**POLICY, field: value})
    assert response.status_code == 200
    html = response.content.decode()
    form = html[html.index('id="schedule-policy"') : html.index("</form>", html.index('id="schedule-policy"'))]
    field_html = form[form.index(f'name="{field}"') :]
    assert f'<p class="error">{message}</p>' in field_html.split('<div class="field')[0]
    assert (
        not PanelSettings.objects.exists()
        and not AuditEvent.objects.filter(action=AuditEvent.Action.SETTINGS_CHANGE).exists()
    )
