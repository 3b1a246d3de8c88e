"""Two-factor login in a real browser (Debian's chromium): set up from the page's secret, log in with a code, use
a recovery code once, and confirm who one is before a private key is downloaded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

from repository.actions import certificate_create_self_signed
from repository.models import KeyExport
from tests.support.totp import Authenticator
from tests.test_browser import browser  # noqa: F401 - the module-scoped Chromium fixture


def _on_dashboard(url: str) -> bool:  # where a login without `next` lands
    return urlsplit(url).path == "/"


pytestmark = pytest.mark.browser

PASSWORD = "browser-pass-1"


def _password(page: Any) -> None:
    page.goto("/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/login/two-factor/**")


def _code(page: Any, code: str) -> None:
    page.fill("#id_code", code)
    page.click("button:has-text('Continue')")


def _log_out(page: Any) -> None:
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login/")


def test_totp_login_recovery_codes_and_reauthentication_before_a_key_export(
    browser: Any,  # noqa: F811
    live_server: Any,
    transactional_db: None,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.CERTPANEL_REQUIRE_2FA = True
    get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True, is_superuser=True)
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)

    # First login: the password, then the setup page (QR code and the secret as text), a code, the recovery codes.
    page.goto("/certificates/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/login/two-factor/setup/**")
    assert page.locator(".qr svg").count() == 1 and page.locator("nav").count() == 0
    app = Authenticator(page.inner_text("#totp-secret"))
    page.fill("#id_code", "000000")
    page.click("button:has-text('Confirm')")
    assert "That code is not right." in page.inner_text(".has-error")
    time.sleep(1.1)  # one wrong code: django-otp waits a second before the next
    page.fill("#id_code", app.code())
    page.click("button:has-text('Confirm')")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    page.click("text=I have saved them: continue")
    page.wait_for_url("**/certificates/")

    # Next login: password, then the authenticator's code.
    _log_out(page)
    _password(page)
    assert "Enter the 6-digit code" in page.inner_text("main")
    _code(page, app.code())
    page.wait_for_url(_on_dashboard)

    # A recovery code logs in once.
    _log_out(page)
    _password(page)
    _code(page, codes[0])
    page.wait_for_url(_on_dashboard)
    assert "recovery code; 9 left" in page.inner_text(".messages")
    _log_out(page)
    _password(page)
    _code(page, codes[0])
    assert "That code is not right." in page.inner_text(".has-error")
    page.goto("/services/")  # the password alone reaches no page
    assert "/login/two-factor/" in page.url and page.locator("nav").count() == 0
    time.sleep(1.1)
    _code(page, codes[1])
    page.wait_for_url("**/services/")

    # A private key leaves only after "confirm it's you" (every time, with a window of 0 s), the choice kept.
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    settings.CERTPANEL_REAUTH_SECONDS = 0
    page.goto(f"/certificates/{entry.pk}/")
    page.select_option("#id_export_format", "key")
    page.click("button:has-text('Download')")
    assert "Confirm it's you" in page.inner_text("#reauth")
    assert page.input_value("#id_export_format") == "key" and not KeyExport.objects.exists()
    page.fill("#id_reauth_secret", "wrong password")
    page.click("button:has-text('Download')")
    assert "neither your password nor a current code" in page.inner_text("#reauth")
    page.fill("#id_reauth_secret", app.code())
    with page.expect_download() as download:
        page.click("button:has-text('Download')")
    assert download.value.suggested_filename == "mail.example.com.key"
    saved = tmp_path / "mail.key"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert list(KeyExport.objects.values_list("actor", "export_format")) == [("alice", "key")]
    context.close()
