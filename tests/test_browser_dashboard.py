"""The admin's day in a real browser: the dashboard's counts, timeline marks that are links, the services matrix,
and the Jobs page's filter, at a desktop (1366 px) and a phone (390 px) width."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from certpanel.models import Notification
from repository.models import Certificate, SweepRun
from services.models import Listener
from tests.support.screenshots import save_screenshot
from tests.test_browser import _login, browser, page  # noqa: F401 - the module-scoped Chromium and its page

pytestmark = pytest.mark.browser


def _world() -> Certificate:
    now = timezone.now()
    soon = Certificate.objects.create(
        name="mail.example.com",
        source="imported",
        certificate_pem="x",
        not_after=now + timedelta(days=12),
        renew_at=now + timedelta(days=2),
    )
    Certificate.objects.create(
        name="web.example.com", source="imported", certificate_pem="x", not_after=now + timedelta(days=80)
    )
    Listener.objects.create(
        name="IMAPS", protocol="imaps", port=993, certificate=soon, last_verified_at=now, last_verify_ok=True
    )
    Notification.objects.create(
        kind="expiry_warning", message_id="<b@x>", subject="Expiring soon", body_text="b", last_error="SMTP refused"
    )
    SweepRun.objects.create(status="done", summary={"renew": 0}, finished_at=now)
    return soon


def test_dashboard_and_jobs_at_desktop_and_phone_width(page: Any) -> None:  # noqa: F811
    soon = _world()
    _login(page)
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/")
        assert page.inner_text("#counts .dash-count.expiring .dash-number") == "1"
        marks = page.locator("#timeline a.tl-link")
        assert marks.count() == 2
        assert marks.first.get_attribute("href") == f"/certificates/{soon.pk}/"
        assert "amber" in (page.locator("#matrix tbody tr").first.get_attribute("class") or "")
        save_screenshot(page, "dashboard")
        page.goto("/jobs/")
        assert page.locator("#jobs tbody tr.job").count() == 2
        page.select_option("#jobs-kind", "email")  # htmx swaps the table in place and updates the address
        page.wait_for_url("**/jobs/?kind=email*")
        page.wait_for_function("document.querySelectorAll('#jobs tbody tr.job').length === 1")
        assert "Expiring soon" in page.inner_text("#jobs")
        save_screenshot(page, "jobs")
    page.goto("/")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.locator("#timeline a.tl-link").first.click()
    page.wait_for_url(f"**/certificates/{soon.pk}/")
