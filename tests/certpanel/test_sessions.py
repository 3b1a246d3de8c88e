"""Sessions end after 30 idle minutes and 12 hours after login; a login never keeps the session id it came with."""

from __future__ import annotations

import time
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from certpanel.middleware import LOGIN_AT, SEEN_AT, SEEN_RESOLUTION, session_end_reason

PASSWORD = "right-password-123"
MINUTE, HOUR = 60, 3600


def _store():  # type: ignore[no-untyped-def]
    return import_module(django_settings.SESSION_ENGINE).SessionStore


def _set_clocks(client: Client, *, login_ago: float, seen_ago: float) -> None:
    session = client.session
    now = time.time()
    session[LOGIN_AT], session[SEEN_AT] = now - login_ago, now - seen_ago
    session.save()


def test_defaults_are_30_idle_minutes_and_12_hours() -> None:
    assert django_settings.CERTPANEL_SESSION_IDLE_MINUTES == 30 and django_settings.CERTPANEL_SESSION_MAX_HOURS == 12
    assert django_settings.SESSION_COOKIE_AGE == 12 * HOUR  # not Django's 14 days


@pytest.mark.parametrize(
    ("login_ago", "seen_ago", "ended"),
    [
        (HOUR, 29 * MINUTE, ""),
        (HOUR, 30 * MINUTE, "after 30 minutes without activity"),
        (12 * HOUR - 1, 0, ""),
        (12 * HOUR, 0, "12 hours after you logged in"),
    ],
)
def test_session_end_reason(login_ago: float, seen_ago: float, ended: str) -> None:
    now = 1_000_000.0
    reason = session_end_reason(
        now=now, login_at=now - login_ago, seen_at=now - seen_ago, idle_minutes=30, max_hours=12
    )
    assert (ended in reason) if ended else reason == ""


def test_a_session_idle_for_30_minutes_is_logged_out(staff_client: Client) -> None:
    _set_clocks(staff_client, login_ago=HOUR, seen_ago=31 * MINUTE)
    old_key = staff_client.session.session_key
    response = staff_client.get("/certificates/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/certificates/")
    assert not _store()().exists(old_key)  # flushed on the server, not only forgotten by the browser
    page = staff_client.get(response["Location"]).content.decode()
    assert "Your session ended after 30 minutes without activity" in page
    assert staff_client.get("/certificates/").status_code == 302


def test_activity_keeps_a_session_alive_and_is_recorded(staff_client: Client) -> None:
    _set_clocks(staff_client, login_ago=HOUR, seen_ago=29 * MINUTE)
    assert staff_client.get("/certificates/").status_code == 200
    assert time.time() - staff_client.session[SEEN_AT] < 5
    # Recorded at most once a minute: a page view does not write the session every time.
    _set_clocks(staff_client, login_ago=HOUR, seen_ago=SEEN_RESOLUTION - 10)
    before = staff_client.session[SEEN_AT]
    assert staff_client.get("/certificates/").status_code == 200
    assert staff_client.session[SEEN_AT] == before


def test_a_busy_session_still_ends_12_hours_after_login(staff_client: Client) -> None:
    _set_clocks(staff_client, login_ago=12 * HOUR + 1, seen_ago=0)
    response = staff_client.get("/services/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert "12 hours after you logged in" in staff_client.get(response["Location"]).content.decode()


def test_the_timeouts_come_from_the_environment_settings(staff_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CERTPANEL_SESSION_IDLE_MINUTES = 5
    _set_clocks(staff_client, login_ago=HOUR, seen_ago=6 * MINUTE)
    assert staff_client.get("/certificates/").status_code == 302


@pytest.mark.django_db
def test_a_login_gets_a_new_session_id_and_the_planted_one_is_dead(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True)
    # Session fixation: the attacker makes a session and gets its id into the victim's browser.
    planted = _store()()
    planted["planted"] = True
    planted.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key != planted.session_key and _store()().exists(new_key)
    assert not _store()().exists(planted.session_key)
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key
    assert attacker.get("/certificates/").status_code == 302  # the planted id logs nobody in
    # The login starts both clocks.
    session = _store()(session_key=new_key)
    assert time.time() - session[LOGIN_AT] < 5 and session[SEEN_AT] == session[LOGIN_AT]
