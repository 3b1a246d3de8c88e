"""Who notifications go to: the configured addresses, else the admins; and the pages say which, or that nobody."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django import Settings

from repository import emails


def test_configured_recipients_win_over_the_admins(staff_client: Client, settings: Settings) -> None:
    settings.CERTPANEL_NOTIFY_EMAILS = []
    emails.notify_emails_save("team@example.com")
    assert emails.notify_to() == ["team@example.com"]
    page = staff_client.get("/settings/").content.decode()
    assert "fallback-recipients" not in page and "nobody-notified" not in page


def test_with_no_recipients_active_admins_with_an_address_are_notified(db: None, settings: Settings) -> None:
    settings.CERTPANEL_NOTIFY_EMAILS = []
    users = get_user_model().objects
    users.create_superuser("root1", email="Root@example.com", password="x")
    users.create_superuser("root2", email="root@EXAMPLE.com", password="x")  # the same mailbox
    users.create_superuser("gone", email="gone@example.com", password="x", is_active=False)
    users.create_superuser("mute", email="", password="x")
    users.create_user("operator", email="op@example.com", password="x", is_staff=True)
    assert emails.notify_to() == ["Root@example.com"]


def test_the_settings_page_names_the_fallback_admins(staff_client: Client, settings: Settings) -> None:
    settings.CERTPANEL_NOTIFY_EMAILS = []
    get_user_model().objects.filter(is_superuser=True).update(email="admin@example.com")
    for url in ("/settings/", "/"):
        page = staff_client.get(url).content.decode()
        assert "fallback-recipients" in page and "admin@example.com" in page, url


def test_the_settings_page_warns_when_nobody_is_notified(staff_client: Client, settings: Settings) -> None:
    settings.CERTPANEL_NOTIFY_EMAILS = []
    get_user_model().objects.update(email="")
    assert emails.notify_to() == []
    for url in ("/settings/", "/"):
        page = staff_client.get(url).content.decode()
        assert "nobody-notified" in page and "Nobody gets renewal-failure, expiry or service emails" in page, url
