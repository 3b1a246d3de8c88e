"""The Content-Security-Policy in Chromium: the panel's pages (Django's admin included) break none of it, and
code injected into a page does not run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
PAGES = [
    "/certificates/",
    "/certificates/new/self-signed/",
    "/certificates/new/csr/",
    "/certificates/import/",
    "/certificates/letsencrypt/",
    "/services/",
    "/toolbox/",
    "/settings/",
    "/password/",
    "/audit/",
    "/admin/",
    "/admin/auth/user/",
    "/admin/auth/user/add/",
    "/admin/axes/accessattempt/",
]
# Every violation the page reports, kept where the test can read it.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # see tests/test_browser.py
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: `make test` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, transactional_db):  # type: ignore[no-untyped-def]
    get_user_model().objects.create_user("alice", password="browser-pass-1", is_staff=True, is_superuser=True)
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "browser-pass-1")
    page.click("button:has-text('Log in')")
    page.wait_for_url(lambda url: url.endswith("/") and "/login/" not in url)  # the dashboard
    yield page
    context.close()


def test_no_page_of_the_panel_or_the_admin_violates_the_policy(page) -> None:  # type: ignore[no-untyped-def]
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    for url in PAGES:
        response = page.goto(url)
        assert response.status == 200, url
        assert "default-src 'none'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
        assert page.evaluate("window.__violations") == [], url
        # The stylesheet applied: the policy let the panel's own CSS in.
        if not url.startswith("/admin/"):
            assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex", url
    assert not [text for text in console if "Content Security Policy" in text]


def test_injected_script_style_and_foreign_image_are_blocked(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/certificates/")
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.pwned = true";
        document.body.appendChild(script);
        const banner = document.createElement("p");
        banner.id = "styled";
        banner.setAttribute("style", "color: rgb(255, 0, 0)");
        document.body.appendChild(banner);
        const img = document.createElement("img");
        img.src = "http://127.0.0.2:9/beacon.png";
        document.body.appendChild(img);
        const link = document.createElement("a");
        link.href = "javascript:window.pwned2 = true";
        link.id = "jslink";
        link.textContent = "x";
        document.body.appendChild(link);
    }"""
    )
    page.click("#jslink")
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None and page.evaluate("window.pwned2") is None
    assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") != "rgb(255, 0, 0)"
    blocked = page.evaluate("window.__violations")
    assert any(v.startswith("script-src") for v in blocked), blocked
    assert any(v.startswith("style-src") for v in blocked), blocked
    assert any(v.startswith("img-src") for v in blocked), blocked
