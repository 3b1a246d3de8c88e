"""The settings page's renewal and check policy in a real browser (Debian's chromium) at 390 px: an admin picks a
renewal point and a probe interval, types a threshold out of range, is told next to the field, then saves; the
card then shows the new policy."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from repository.policy import schedule_policy
from tests.support.screenshots import save_screenshot
from tests.test_browser import browser  # noqa: F401 - the module-scoped Chromium fixture

pytestmark = pytest.mark.browser

PASSWORD = "browser-pass-1"


def test_an_admin_changes_the_renewal_policy_at_phone_width(
    browser: Any,  # noqa: F811
    live_server: Any,
    transactional_db: None,
) -> None:
    get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True, is_superuser=True)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(lambda url: "/login/" not in url)

    page.goto("/settings/")
    page.select_option("#id_renewal_fraction", "1/2")
    page.select_option("#id_verify_interval", "10800")
    page.fill("#id_expiring_days", "120")
    page.evaluate("document.getElementById('id_expiring_days').removeAttribute('max')")  # as a tampered form would
    page.click("button:has-text('Save renewal and checks')")
    assert "Enter 7 to 90 days." in page.inner_text("#schedule-policy .has-error")
    assert schedule_policy().expiring_days == 30, "nothing saved"

    page.fill("#id_expiring_days", "45")
    page.click("button:has-text('Save renewal and checks')")
    page.wait_for_url("**/settings/#renewal-policy")
    assert "Renewal and check policy saved." in page.inner_text(".messages")
    card = page.inner_text("#renewal-policy")
    assert "renews when 1/2 of its own lifetime is left" in card and "probed every 3 hours" in card
    assert page.input_value("#id_expiring_days") == "45"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider than the phone"
    save_screenshot(page, "settings-policy")
    context.close()
