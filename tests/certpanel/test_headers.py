"""Content-Security-Policy on every page, no-store on every logged-in one, and templates without inline code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from certpanel.middleware import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[2]
LOGGED_IN_PAGES = [
    "/certificates/",
    "/certificates/new/self-signed/",
    "/certificates/letsencrypt/",
    "/services/",
    "/toolbox/",
    "/settings/",
    "/password/",
    "/admin/",
]


def test_the_policy_allows_the_panels_own_files_and_nothing_inline() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "img-src", "connect-src", "form-action"):
        assert directives[name] == "'self'", name
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "data:" not in CONTENT_SECURITY_POLICY


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/health/", "/certificates/", "/no-such-page/"])
def test_every_anonymous_response_carries_the_policy(client: Client, url: str) -> None:
    assert client.get(url)["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("url", LOGGED_IN_PAGES)
def test_every_logged_in_page_has_the_policy_and_is_never_stored(staff_client: Client, url: str) -> None:
    response = staff_client.get(url)
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_a_read_only_users_pages_and_a_logged_in_redirect_are_not_stored(viewer_client: Client) -> None:
    assert "no-store" in viewer_client.get("/certificates/")["Cache-Control"]
    assert "no-store" in viewer_client.get("/")["Cache-Control"]  # the dashboard
    redirect = viewer_client.get("/login/")  # a logged-in user is sent on
    assert redirect.status_code == 302 and "no-store" in redirect["Cache-Control"]


@pytest.mark.django_db
def test_static_files_stay_cacheable_and_anonymous_pages_carry_no_user_data(client: Client) -> None:
    css = client.get("/static/css/panel.css")
    assert css.status_code == 200 and "no-store" not in css.get("Cache-Control", "")
    assert "no-store" not in client.get("/no-such-page/").get("Cache-Control", "")


def _web_templates() -> list[Path]:
    return [path for path in (ROOT / "templates").rglob("*.html") if "emails" not in path.parts]


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event-handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_page_template_has_inline_code_the_policy_would_block() -> None:
    templates = _web_templates()
    assert len(templates) > 20
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in templates
        for pattern, what in INLINE
        if pattern.search(path.read_text())
    ]
    assert not found, found


def test_rendered_pages_have_no_inline_code_either(staff_client: Client) -> None:
    for url in LOGGED_IN_PAGES:
        page = staff_client.get(url).content.decode()
        for pattern, what in INLINE:
            # Django's admin keeps JSON data in <script type="application/json">, which is data, never run.
            hits = [hit for hit in pattern.findall(page) if "application/json" not in hit]
            assert not hits, f"{url}: {what}: {hits}"
