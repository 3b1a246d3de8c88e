"""Users and roles in a real browser (Debian's chromium), at 1366 and 390 px: the admin adds an operator and a
read-only user; the operator has no Users link and is refused /users/; the read-only user opens a certificate and
is offered no private-key export."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from repository.actions import certificate_create_self_signed
from tests.support.screenshots import save_screenshot
from tests.test_browser import browser  # noqa: F401 - the module-scoped Chromium fixture

pytestmark = pytest.mark.browser

PASSWORD = "browser-pass-1"
NEW_PASSWORD = "plenty-long-passphrase"
SECRET_FORMATS = ("key", "combined", "pkcs12")


def _log_in(page: Any, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button:has-text('Log in')")
    page.wait_for_url(lambda url: url.endswith("/") and "/login/" not in url)  # the dashboard


def _log_out(page: Any) -> None:
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login/")


def _add_user(page: Any, username: str, role: str) -> None:
    page.click("text=Add user")
    page.fill("#id_username", username)
    page.select_option("#id_role", role)
    page.fill("#id_password", NEW_PASSWORD)
    page.fill("#id_password_confirm", NEW_PASSWORD)
    page.click("button:has-text('Add user')")
    page.wait_for_url("**/users/")
    assert f"Added {username}" in page.inner_text(".messages")


def _export_formats(page: Any) -> list[str]:
    return [option.get_attribute("value") for option in page.locator("#id_export_format option").all()]


def test_admin_adds_an_operator_and_a_read_only_user_who_see_only_their_share(
    browser: Any,  # noqa: F811
    live_server: Any,
    transactional_db: None,
    settings: Any,
) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # five logins, kept quick
    get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True, is_superuser=True)
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)

    _log_in(page, "alice", PASSWORD)
    page.goto("/users/")
    assert "Read-only" in page.inner_text("#roles")
    page.click("text=Add user")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "short")
    page.fill("#id_password_confirm", "short")
    page.click("button:has-text('Add user')")
    errors = page.inner_text("#user-add")
    assert "There is already a user named alice." in errors and "too short" in errors
    page.click("text=← Users")
    _add_user(page, "otto", "operator")
    _add_user(page, "rita", "read-only")
    table = page.inner_text("#users")
    assert "otto" in table and "Operator" in table and "rita" in table and "Read-only" in table
    for width in (390, 1366):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.locator("#users").is_visible()  # wide tables scroll inside their box on a phone
        save_screenshot(page, "users-list")
    _log_out(page)

    _log_in(page, "otto", NEW_PASSWORD)
    assert page.locator("nav a:has-text('Users')").count() == 0
    refused = page.goto("/users/")
    assert refused is not None and refused.status == 403
    assert "Only admins may manage users" in page.inner_text("main")
    page.goto(f"/certificates/{entry.pk}/")
    assert set(SECRET_FORMATS) <= set(_export_formats(page)), "operators may take keys out"
    _log_out(page)

    _log_in(page, "rita", NEW_PASSWORD)
    page.click("nav >> text=Repository")
    page.click("table.list >> text=mail.example.com")
    page.wait_for_url(f"**/certificates/{entry.pk}/")
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        formats = _export_formats(page)
        assert "fullchain" in formats and not set(SECRET_FORMATS) & set(formats)
        assert page.locator("#id_export_password").count() == 0
        assert "never the private key" in page.inner_text("main")
        assert page.locator("button:has-text('Download')").is_visible()
        save_screenshot(page, "users-read-only-certificate")
    context.close()


def test_admin_resets_a_users_two_factor_after_the_browser_asks(
    browser: Any,  # noqa: F811
    live_server: Any,
    transactional_db: None,
    settings: Any,
) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True, is_superuser=True)
    otto = get_user_model().objects.create_user("otto", password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=otto, name="authenticator", confirmed=True)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    answers, asked = [False, True], []  # first "Cancel", then "OK"

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", answer)
    _log_in(page, "alice", PASSWORD)
    page.goto(f"/users/{otto.pk}/")
    page.click("button:has-text('Reset two-factor')")
    page.wait_for_timeout(300)
    assert "Reset the two-factor login of otto?" in asked[0]
    assert TOTPDevice.objects.filter(user=otto).exists(), "Cancel resets nothing"
    page.click("button:has-text('Reset two-factor')")
    page.wait_for_selector(".messages")
    assert "Two-factor login of otto was reset" in page.inner_text(".messages")
    assert not TOTPDevice.objects.filter(user=otto).exists()
    assert "has no authenticator set up: there is nothing to reset" in page.inner_text("#user-twofactor")
    save_screenshot(page, "users-twofactor-reset")
    context.close()
