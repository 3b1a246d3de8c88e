"""Journey 7 in a browser: a failed and a good login, then the audit log shows both with the right user, filtered,
readable at desktop and phone widths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.screenshots import save_screenshot
from tests.test_browser import browser, page  # noqa: F401 - the Chromium fixtures

pytestmark = pytest.mark.browser


def test_the_audit_log_shows_who_logged_in_and_who_failed(page: Any) -> None:  # noqa: F811
    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "not-her-password")
    page.click("button:has-text('Log in')")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "browser-pass-1")
    page.click("button:has-text('Log in')")
    page.wait_for_url(lambda url: "/login/" not in url)  # wherever the login lands
    page.goto("/audit/")
    rows = page.locator("table.audit tbody tr")
    assert "logged in" in rows.nth(0).inner_text() and "failed login" in rows.nth(1).inner_text()
    assert "not-her-password" not in page.content()
    page.select_option("#id_action", "login_failed")
    page.click("button:has-text('Filter')")
    assert rows.count() == 1 and "alice" in rows.nth(0).inner_text()
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        # The filters wrap and the table scrolls inside its own box: neither is wider than the window.
        for box in (".audit-filters", ".table-scroll"):
            assert page.evaluate(f"document.querySelector('{box}').getBoundingClientRect().right <= innerWidth"), box
        save_screenshot(page, "audit-log")
