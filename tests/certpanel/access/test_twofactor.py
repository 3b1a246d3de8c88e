"""Two-factor login tried as an attacker with a password (or a stolen password-only session) would.

The suite logs in with a password alone (tests/conftest.py); these tests turn CERTPANEL_REQUIRE_2FA back on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from certpanel.access import reauth
from repository.models import Certificate
from services.models import Listener
from tests.support.totp import Authenticator, hotp

PASSWORD = "correct-horse-battery-9"
VERIFY = "/login/two-factor/"
SETUP = "/login/two-factor/setup/"
MANAGE = "/account/two-factor/"
# What anyone may reach (login_not_required), and what a session that has not given its code may reach besides.
PUBLIC = {"/login/", "/health/", "/.well-known/acme-challenge/x", "/admin/login/"}
STEPS = {"/logout/", VERIFY, SETUP}


@pytest.fixture(autouse=True)
def required(settings) -> None:
    settings.CERTPANEL_REQUIRE_2FA = True


@pytest.fixture
def alice(db: None) -> User:
    return get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True, is_superuser=True)


def _password_login(client: Client, username: str = "alice") -> None:
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]


def _enroll(client: Client) -> tuple[Authenticator, list[str]]:
    """The first login's path: password → setup page → code → the recovery codes."""
    _password_login(client)
    page = client.get(SETUP)
    body = page.content.decode()
    assert page.status_code == 200 and "Set up two-factor login" in body
    assert "<svg" in body and "otpauth://totp/" in body
    app = Authenticator(re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body).group(1))
    done = client.post(SETUP, {"code": app.code(), "next": "/certificates/"})
    assert done.status_code == 200 and "no-store" in done["Cache-Control"]
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    return app, codes


def _enrolled(alice: User) -> tuple[Authenticator, list[str]]:
    """alice with an authenticator and recovery codes, set up through the pages."""
    app, codes = _enroll(Client())
    return app, codes


def _url_patterns(patterns: list[object], prefix: str = "/") -> Iterator[str]:
    """Every route of the URLconf, its parameters filled in (the admin's regex routes by one example each)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _url_patterns(pattern.url_patterns, prefix + _filled(str(pattern.pattern)))
        elif isinstance(pattern, URLPattern):
            yield prefix + _filled(str(pattern.pattern))


def _filled(route: str) -> str:
    route = re.sub(r"<int:\w+>", "1", route)
    route = re.sub(r"<(?:str|slug|path):\w+>", "x", route)
    route = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000000", route)
    if route.startswith("^"):  # the admin's app index: one app stands for all
        route = re.sub(r"\(\?P<app_label>[^)]*\)", "auth", route).strip("^$")
    return route


def test_the_rfc_4226_codes_of_the_test_authenticator() -> None:
    assert [hotp(b"12345678901234567890", c) for c in range(3)] == ["755224", "287082", "359152"]


def test_a_password_only_session_reaches_no_page_and_changes_nothing(alice: User) -> None:
    _enrolled(alice)
    client = Client()
    _password_login(client)
    urls = sorted(set(_url_patterns(get_resolver().url_patterns)))
    assert "/certificates/1/export/" in urls and "/admin/auth/user/" in urls and len(urls) > 40
    public = {url for url in urls if not getattr(resolve(url).func, "login_required", True)}
    assert public == PUBLIC
    for url in urls:
        if url in PUBLIC | STEPS:
            continue
        for method in (client.get, client.post):
            response = method(url, {"export_format": "key", "hostname": "evil.example"})
            assert response.status_code == 302, f"{method.__name__} {url}: {response.status_code}"
            assert response["Location"].startswith(f"{VERIFY}?next="), f"{url} -> {response['Location']}"
    assert not Certificate.objects.exists() and not Listener.objects.exists()
    # The setup page cannot replace the authenticator: it sends the session to the code step.
    assert client.get(SETUP)["Location"].startswith(VERIFY)
    assert client.post(SETUP, {"code": "123456"})["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=alice).count() == 1


def test_the_two_factor_steps_need_a_password_first(db: None) -> None:
    for url in (VERIFY, SETUP, MANAGE):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_first_login_sets_up_the_authenticator_and_shows_ten_recovery_codes_once(alice: User) -> None:
    client = Client()
    _password_login(client)
    first = client.get("/certificates/")
    assert first.status_code == 302 and first["Location"] == f"{VERIFY}?next=/certificates/"
    assert client.get(first["Location"])["Location"] == f"{SETUP}?next=%2Fcertificates%2F"
    setup = client.get(SETUP).content.decode()
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', setup).group(1)
    assert client.get(SETUP).content.decode().count(secret) == 1, "a reload shows the same secret"
    wrong = client.post(SETUP, {"code": "000000"})
    assert wrong.status_code == 200 and "That code is not right." in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=alice, confirmed=True).exists()
    time.sleep(1.1)  # django-otp's throttling: one second after one wrong code
    session_before = client.cookies["sessionid"].value
    done = client.post(SETUP, {"code": Authenticator(secret).code(), "next": "/certificates/"})
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == 10 and StaticToken.objects.filter(device__user=alice).count() == 10
    assert client.cookies["sessionid"].value != session_before, "a new session id once the second factor is in"
    assert client.get("/certificates/").status_code == 200
    # Shown once: the setup page now leads to "Two-factor login", which shows how many are left, not the codes.
    assert client.get(SETUP)["Location"] == MANAGE
    manage = client.get(MANAGE).content.decode()
    assert "10 recovery codes left" in manage and not any(code in manage for code in codes)


def test_login_with_an_authenticator_asks_for_its_code(alice: User) -> None:
    app, _ = _enrolled(alice)
    client = Client()
    _password_login(client)
    assert client.get("/services/")["Location"] == f"{VERIFY}?next=/services/"
    step = client.get(f"{VERIFY}?next=/services/").content.decode()
    assert "Enter the 6-digit code from your authenticator app, or one of your recovery codes." in step
    assert "Services" not in step.split("<main>")[0], "no navigation before the second factor"
    wrong = client.post(VERIFY, {"code": "123456", "next": "/services/"})
    assert "That code is not right." in wrong.content.decode()
    refused = client.post(VERIFY, {"code": "654321", "next": "/services/"})  # too soon: not even checked
    assert "Too many wrong codes: try again in 1 second." in refused.content.decode()
    time.sleep(1.1)
    done = client.post(VERIFY, {"code": app.code(), "next": "/services/"})
    assert done.status_code == 302 and done["Location"] == "/services/"
    assert client.get("/services/").status_code == 200


def test_a_code_is_accepted_once(alice: User) -> None:
    app, _ = _enrolled(alice)
    code = app.code()
    first, second = Client(), Client()
    _password_login(first)
    _password_login(second)
    assert first.post(VERIFY, {"code": code})["Location"] == "/"
    replay = second.post(VERIFY, {"code": code})
    assert replay.status_code == 200 and "That code is not right." in replay.content.decode()


def test_a_recovery_code_works_once(alice: User) -> None:
    _, codes = _enrolled(alice)
    client = Client()
    _password_login(client)
    done = client.post(VERIFY, {"code": codes[0].upper()[:4] + "-" + codes[0].upper()[4:], "next": "/toolbox/"})
    assert done["Location"] == "/toolbox/"
    assert "recovery code; 9 left" in client.get("/toolbox/").content.decode()
    client.post("/logout/")
    _password_login(client)
    again = client.post(VERIFY, {"code": codes[0]})
    assert again.status_code == 200 and "That code is not right." in again.content.decode()
    assert client.get("/toolbox/").status_code == 302
    time.sleep(1.1)
    assert client.post(VERIFY, {"code": codes[1]})["Location"] == "/"


def test_the_code_step_sends_nowhere_but_this_panel(alice: User) -> None:
    app, _ = _enrolled(alice)
    client = Client()
    _password_login(client)
    done = client.post(VERIFY, {"code": app.code(), "next": "https://evil.example/"})
    assert done["Location"] == "/"


def test_without_the_requirement_a_password_alone_logs_in(settings, alice: User) -> None:
    settings.CERTPANEL_REQUIRE_2FA = False
    client = Client()
    _password_login(client)
    assert client.get("/certificates/").status_code == 200
    assert "not set up for your account (this panel does not require it)" in client.get(MANAGE).content.decode()


def test_without_the_requirement_a_user_with_an_authenticator_is_still_asked(settings, alice: User) -> None:
    _enrolled(alice)
    settings.CERTPANEL_REQUIRE_2FA = False
    client = Client()
    _password_login(client)
    assert client.get("/certificates/")["Location"].startswith(VERIFY)


def _verified_client(app: Authenticator) -> Client:
    client = Client()
    _password_login(client)
    assert client.post(VERIFY, {"code": app.code()}).status_code == 302
    return client


def _age(client: Client) -> None:
    """The session last proved who it is longer ago than the re-authentication window."""
    session = client.session
    session[reauth.SESSION_KEY] -= 301
    session.save()


def test_new_recovery_codes_need_the_password_or_a_code_again(alice: User) -> None:
    app, old_codes = _enrolled(alice)
    client = _verified_client(app)
    _age(client)
    page = client.get(MANAGE).content.decode()
    assert "Confirm it's you" in page and 'name="reauth_secret"' in page
    asked = client.post(MANAGE, {"action": "codes"})
    assert "Confirm it's you" in asked.content.decode()
    wrong = client.post(MANAGE, {"action": "codes", "reauth_secret": "not-my-password"})
    assert "That is neither your password nor a current code." in wrong.content.decode()
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(old_codes)
    done = client.post(MANAGE, {"action": "codes", "reauth_secret": app.code()})
    new_codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(new_codes) == 10 and set(StaticToken.objects.values_list("token", flat=True)) == set(new_codes)


def test_a_reset_needs_reauthentication_then_sets_up_a_new_authenticator(alice: User) -> None:
    app, _ = _enrolled(alice)
    client = _verified_client(app)
    _age(client)
    client.post(MANAGE, {"action": "reset"})
    assert TOTPDevice.objects.filter(user=alice).count() == 1
    done = client.post(MANAGE, {"action": "reset", "reauth_secret": PASSWORD})
    assert done["Location"] == SETUP
    assert not TOTPDevice.objects.filter(user=alice, confirmed=True).exists()
    assert not StaticToken.objects.exists()
    assert client.get("/certificates/")["Location"].startswith(VERIFY), "the session owes a new authenticator"
    assert "Set up two-factor login" in client.get(SETUP).content.decode()


def test_five_wrong_reauthentications_log_the_session_out(alice: User) -> None:
    app, _ = _enrolled(alice)
    client = _verified_client(app)
    _age(client)
    for _ in range(reauth.MAX_FAILURES - 1):
        assert client.post(MANAGE, {"action": "codes", "reauth_secret": "guess"}).status_code == 200
    assert client.post(MANAGE, {"action": "codes", "reauth_secret": "guess"}).status_code == 403
    assert client.get("/certificates/")["Location"].startswith("/login/")


def test_the_host_admin_resets_a_locked_out_user(cli, alice: User) -> None:
    _enrolled(alice)
    listed = cli("twofa", "list")
    assert listed.code == 0 and "alice: on, 10 recovery codes left" in listed.out
    done = cli("twofa", "reset", "alice")
    assert done.code == 0 and "Two-factor login of alice was reset" in done.out
    assert not TOTPDevice.objects.filter(user=alice).exists() and not StaticToken.objects.exists()
    assert cli("twofa", "reset", "alice").out.strip() == "alice had no two-factor login set up: nothing to reset."
    unknown = cli("twofa", "reset", "mallory")
    assert unknown.code != 0 and unknown.error_line == "error: no user named 'mallory'"
    client = Client()
    _password_login(client)
    assert client.get(VERIFY)["Location"].startswith(SETUP)
