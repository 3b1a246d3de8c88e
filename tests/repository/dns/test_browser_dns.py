"""Settings → DNS providers in a real browser (Debian's chromium): a refused secret shown next to its field, a
provider added and tested against BIND + Knot, and Delete asking first."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from repository.models import DnsProvider
from tests.repository.dns.conftest import DnsWorld
from tests.support.screenshots import save_screenshot
from tests.test_browser import browser  # noqa: F401 - the module-scoped Chromium fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, live_server, transactional_db):  # type: ignore[no-untyped-def]  # noqa: F811
    get_user_model().objects.create_user("alice", password="browser-pass-1", is_staff=True, is_superuser=True)
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "browser-pass-1")
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/")
    yield page
    context.close()


def fill(page, dns_world: DnsWorld, zone: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#id_zone", zone)
    page.fill("#id_server", dns_world.primary.server)
    page.fill("#id_tsig_name", dns_world.key.name)
    page.select_option("#id_tsig_algorithm", dns_world.key.algorithm)
    page.fill("#id_tsig_secret", secret)
    page.click("#dns-provider-add button:has-text('Add')")


def test_an_admin_adds_tests_and_deletes_a_dns_provider(page, dns_world: DnsWorld) -> None:  # type: ignore[no-untyped-def]
    page.goto("/settings/")
    page.click("#dns-providers-link a")
    page.wait_for_url("**/dns-providers/")

    fill(page, dns_world, "multi.test", "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
    error = page.inner_text(".field.has-error")
    assert "TSIG secret" in error and "wrong secret or algorithm" in error
    assert page.input_value("#id_tsig_secret") == "" and not DnsProvider.objects.exists()

    fill(page, dns_world, "multi.test", dns_world.key.secret)
    assert "DNS provider for multi.test added" in page.inner_text(".messages")
    page.click("#dns-providers button:has-text('Test')")
    page.wait_for_selector("#dns-test-answers")
    assert "Every nameserver of multi.test served the test record" in page.inner_text("#dns-test")
    assert page.locator("#dns-test-answers .badge.valid").count() == 2
    save_screenshot(page, "dns-providers")
    page.set_viewport_size({"width": 390, "height": 844})
    box = page.locator("#dns-providers button:has-text('Delete')").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390, "at phone width the buttons are on screen, not scrolled"
    save_screenshot(page, "dns-providers")

    answers, asked = [False, True], []  # first "Cancel", then "OK"

    def answer(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", answer)
    page.click("#dns-providers button:has-text('Delete')")
    page.wait_for_timeout(300)
    assert asked and asked[0].startswith("Delete the DNS provider for multi.test?")
    assert DnsProvider.objects.exists(), "Cancel deletes nothing"
    page.click("#dns-providers button:has-text('Delete')")
    page.wait_for_selector(".messages >> text=DNS provider for multi.test deleted.")
    assert not DnsProvider.objects.exists()
