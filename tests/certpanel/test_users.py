"""The Users pages and the roles everywhere else, through Django's test client: who may open and post what, what a
page offers each role, the guard rails (no self-demotion, never zero active admins), bad input, ended sessions."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from certpanel.accounts import actions
from certpanel.models import AuditEvent
from certpanel.roles import Role, role_of
from repository.actions import certificate_create_self_signed
from repository.models import Certificate
from services.models import Deployment, Listener

PASSWORD = "correct-horse-battery"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # as test_sessions.py does


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("alice", password=PASSWORD, is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(admin: User) -> Client:
    return _client(admin)


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_user("otto", password=PASSWORD, is_staff=True)


@pytest.fixture
def reader(db: None) -> User:
    return User.objects.create_user("rita", password=PASSWORD)


@pytest.fixture
def entry(db: None) -> Certificate:
    return certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")


def _logs_in(username: str, password: str) -> bool:
    """Through the login form, as a person does (the lockout backend wants the request)."""
    response = Client().post("/login/", {"username": username, "password": password})
    return response.status_code == 302


def _page(response: object) -> str:
    return html.unescape(response.content.decode())  # type: ignore[attr-defined]


def _add(client: Client, **fields: str) -> object:
    data = {"username": "bob", "email": "", "role": "operator", "password": PASSWORD, "password_confirm": PASSWORD}
    return client.post("/users/add/", {**data, **fields})


# -- who may open what -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["operator", "reader"])
def test_only_admins_open_users_and_change_settings(who: str, request: pytest.FixtureRequest, admin: User) -> None:
    client = _client(request.getfixturevalue(who))
    for url in ("/users/", "/users/add/", f"/users/{admin.pk}/", f"/users/{admin.pk}/password/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/users/{admin.pk}/deactivate/").status_code == 403
    assert client.post(f"/users/{admin.pk}/", {"role": "read-only"}).status_code == 403
    assert role_of(User.objects.get(pk=admin.pk)) is Role.ADMIN
    refused = client.post("/settings/notifications/", {"notify_emails": "x@example.com"})
    assert refused.status_code == 403 and "Only admins" in _page(refused)
    assert client.post("/settings/test-email/").status_code == 403
    assert client.post("/settings/acme-account/", {"directory_url": "https://ca.example/dir"}).status_code == 403
    page = _page(client.get("/settings/"))  # everyone may look at the settings: no form is offered
    assert "/settings/notifications/" not in page and "Register an ACME account" not in page
    assert "Send test email" not in page and "Only admins change settings." in page
    assert 'href="/users/' not in _page(client.get("/certificates/"))
    if who == "operator":  # certificates are theirs, ACME accounts (settings) are not
        asked = client.get("/certificates/letsencrypt/new/", follow=True)
        assert "There is no ACME account yet: an admin registers one, here or under Settings." in _page(asked)


def test_admin_sees_every_user_with_role_and_the_roles_explained(
    admin_client: Client, operator: User, reader: User
) -> None:
    User.objects.create_user("gone", is_active=False)
    page = _page(admin_client.get("/users/"))
    for name, role in (("alice", "Admin"), ("otto", "Operator"), ("rita", "Read-only")):
        assert f">{name}</a>" in page and role in page
    assert "deactivated" in page and "never" in page  # last login
    assert "Operator</dt><dd>Certificates and services, no users or settings." in page
    assert "Read-only</dt><dd>Sees everything, changes nothing, never offered a private-key export." in page
    settings_page = _page(admin_client.get("/settings/"))
    assert "/settings/notifications/" in settings_page and "Register an ACME account" in settings_page


# -- adding users --------------------------------------------------------------------------------------------------


def test_admin_adds_a_user_with_each_role(admin_client: Client) -> None:
    for role in Role:
        name = f"bob-{role.value}"
        response = _add(admin_client, username=name, email="bob@example.com", role=role.value)
        assert response.status_code == 302 and response["Location"] == "/users/"  # type: ignore[index]
        bob = User.objects.get(username=name)
        assert role_of(bob) is role and bob.is_active and bob.email == "bob@example.com"
    assert "Added bob-read-only" in _page(admin_client.get("/users/"))
    assert _logs_in("bob-operator", PASSWORD)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "ALICE"}, "username", "There is already a user named ALICE."),
        ({"username": "<script>alert(1)</script>"}, "username", "Enter a valid username"),
        ({"username": "x" * 151}, "username", "at most 150 characters"),
        ({"username": "\u0430lice"}, "username", "Enter a valid username"),  # a Cyrillic a: looks like alice
        ({"username": "nul\x00byte"}, "username", "Null characters are not allowed."),
        ({"username": ""}, "username", "This field is required."),
        ({"email": "not an address"}, "email", "Enter a valid email address."),
        ({"role": "superuser"}, "role", "Select a valid choice."),
        ({"password": "password", "password_confirm": "password"}, "password", "This password is too common."),
        ({"password": "Sh0rt!", "password_confirm": "Sh0rt!"}, "password", "too short"),
        ({"password_confirm": "something-else-entirely"}, "password_confirm", "The two passwords differ."),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_nothing_is_saved(
    admin_client: Client, fields: dict[str, str], field: str, message: str
) -> None:
    response = _add(admin_client, **fields)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
    form = response.context["form"]  # type: ignore[attr-defined]
    assert any(message in error for error in form.errors[field]), form.errors
    assert "<script>alert(1)" not in response.content.decode()  # type: ignore[attr-defined]


# -- guard rails ---------------------------------------------------------------------------------------------------


def test_admin_cannot_demote_deactivate_or_reset_themself(admin_client: Client, admin: User) -> None:
    page = _page(admin_client.get(f"/users/{admin.pk}/"))
    assert "This is you" in page and "Change role" not in page and "Deactivate…" not in page
    refused = admin_client.post(f"/users/{admin.pk}/", {"role": "operator"})
    assert refused.status_code == 400 and "You cannot change your own role" in _page(refused)
    refused = admin_client.post(f"/users/{admin.pk}/deactivate/")
    assert refused.status_code == 400 and "You cannot deactivate your own account" in _page(refused)
    assert admin_client.get(f"/users/{admin.pk}/password/")["Location"] == "/password/"
    admin.refresh_from_db()
    assert role_of(admin) is Role.ADMIN and admin.is_active


def test_last_active_admin_is_never_removed(admin: User, operator: User) -> None:
    with pytest.raises(actions.AccountError, match="alice is the last active admin"):
        actions.user_set_role(user_id=admin.pk, role=Role.OPERATOR)
    with pytest.raises(actions.AccountError, match="alice is the last active admin"):
        actions.user_deactivate(user_id=admin.pk)
    other = User.objects.create_user("ada", is_staff=True, is_superuser=True, is_active=False)
    with pytest.raises(actions.AccountError, match="last active admin"):  # an inactive admin does not count
        actions.user_deactivate(user_id=admin.pk)
    actions.user_activate(user_id=other.pk)
    actions.user_set_role(user_id=admin.pk, role=Role.READ_ONLY)  # now there is another
    assert role_of(User.objects.get(pk=admin.pk)) is Role.READ_ONLY
    with pytest.raises(actions.AccountError, match="already a user named OTTO"):
        actions.user_create(username="OTTO", email="", role=Role.OPERATOR, password=PASSWORD)
    with pytest.raises(actions.AccountError, match="too common") as refused:
        actions.user_create(username="new", email="", role=Role.OPERATOR, password="password")
    assert refused.value.field == "password" and not User.objects.filter(username="new").exists()


def test_admin_changes_a_role_after_confirming_it_is_them(admin_client: Client, operator: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CERTPANEL_REAUTH_SECONDS = 0  # the login no longer counts: every change asks again
    page = _page(admin_client.get(f"/users/{operator.pk}/"))
    assert "Confirm it's you." in page
    asked = admin_client.post(f"/users/{operator.pk}/", {"role": "admin"})
    assert asked.status_code == 400 and role_of(User.objects.get(pk=operator.pk)) is Role.OPERATOR
    wrong = admin_client.post(f"/users/{operator.pk}/", {"role": "admin", "reauth_secret": "wrong"})
    assert "neither your password nor a current code" in _page(wrong)
    done = admin_client.post(f"/users/{operator.pk}/", {"role": "admin", "reauth_secret": PASSWORD})
    assert done.status_code == 302 and role_of(User.objects.get(pk=operator.pk)) is Role.ADMIN


# -- sessions end --------------------------------------------------------------------------------------------------


def test_password_reset_ends_the_users_sessions(admin_client: Client, operator: User) -> None:
    session = _client(operator)
    assert session.get("/certificates/").status_code == 200
    weak = admin_client.post(f"/users/{operator.pk}/password/", {"password": "123", "password_confirm": "123"})
    assert weak.status_code == 400 and "too short" in _page(weak)
    assert session.get("/certificates/").status_code == 200, "nothing changed"
    new = "another-long-passphrase"
    done = admin_client.post(f"/users/{operator.pk}/password/", {"password": new, "password_confirm": new})
    assert done.status_code == 302
    assert "/login/" in session.get("/certificates/")["Location"]
    operator.refresh_from_db()
    assert operator.check_password(new)


def test_deactivation_asks_first_ends_the_sessions_and_can_be_undone(admin_client: Client, reader: User) -> None:
    session = _client(reader)
    page = _page(admin_client.get(f"/users/{reader.pk}/deactivate/"))
    assert "Deactivate rita?" in page and "logged out everywhere" in page
    assert admin_client.post(f"/users/{reader.pk}/deactivate/").status_code == 302
    assert "/login/" in session.get("/certificates/")["Location"]
    assert not _logs_in("rita", PASSWORD)
    assert admin_client.get(f"/users/{reader.pk}/deactivate/")["Location"] == f"/users/{reader.pk}/"  # a reload
    assert "Reactivate…" in _page(admin_client.get(f"/users/{reader.pk}/"))
    assert admin_client.post(f"/users/{reader.pk}/activate/").status_code == 302
    assert User.objects.get(pk=reader.pk).is_active


def _enrolled(user: User) -> User:
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaticDevice.objects.create(user=user, name="recovery codes").token_set.create(token="abcd1234")
    return user


def test_admin_resets_two_factor_after_a_confirm_and_the_user_enrols_again(  # type: ignore[no-untyped-def]
    admin_client: Client, operator: User, settings
) -> None:
    session = _client(_enrolled(operator))
    page = _page(admin_client.get(f"/users/{operator.pk}/"))
    assert 'data-confirm="Reset the two-factor login of otto?' in page and "Reset two-factor" in page
    done = admin_client.post(f"/users/{operator.pk}/two-factor/reset/", follow=True)
    assert "Two-factor login of otto was reset" in _page(done)
    assert not TOTPDevice.objects.filter(user=operator).exists()
    assert not StaticDevice.objects.filter(user=operator).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.TWOFACTOR_RESET)
    assert (event.actor_name, event.target_label) == ("alice", "otto")
    assert "/login/" in session.get("/certificates/")["Location"], "their sessions ended"
    settings.CERTPANEL_REQUIRE_2FA = True
    fresh = Client()
    assert fresh.post("/login/", {"username": "otto", "password": PASSWORD}).status_code == 302
    assert fresh.get("/login/two-factor/", follow=True).redirect_chain[-1][0].startswith("/login/two-factor/setup/")


def test_two_factor_reset_of_a_user_without_it_or_of_oneself_says_why(
    admin_client: Client, admin: User, reader: User
) -> None:
    page = _page(admin_client.get(f"/users/{reader.pk}/"))
    assert "has no authenticator set up: there is nothing to reset" in page and "Reset two-factor" not in page
    refused = _page(admin_client.post(f"/users/{reader.pk}/two-factor/reset/", follow=True))
    assert "rita has no two-factor login set up: there is nothing to reset." in refused
    refused = _page(admin_client.post(f"/users/{admin.pk}/two-factor/reset/", follow=True))
    assert "Reset your own two-factor login under Two-factor login." in refused
    with pytest.raises(actions.AccountError, match="Reset your own"):
        actions.user_twofactor_reset(user_id=_enrolled(admin).pk, by=admin)
    assert TOTPDevice.objects.filter(user=admin).exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.TWOFACTOR_RESET).exists()


def test_two_factor_reset_needs_a_recent_confirmation_and_an_admin(  # type: ignore[no-untyped-def]
    admin_client: Client, operator: User, reader: User, settings
) -> None:
    _enrolled(reader)
    assert _client(operator).post(f"/users/{reader.pk}/two-factor/reset/").status_code == 403
    settings.CERTPANEL_REAUTH_SECONDS = 0
    asked = admin_client.post(f"/users/{reader.pk}/two-factor/reset/")
    assert asked.status_code == 200 and "Confirm it's you." in _page(asked)
    wrong = admin_client.post(f"/users/{reader.pk}/two-factor/reset/", {"reauth_secret": "wrong"})
    assert wrong.status_code == 400 and "neither your password nor a current code" in _page(wrong)
    assert TOTPDevice.objects.filter(user=reader).exists()
    done = admin_client.post(f"/users/{reader.pk}/two-factor/reset/", {"reauth_secret": PASSWORD})
    assert done.status_code == 302 and not TOTPDevice.objects.filter(user=reader).exists()


# -- what read-only users are offered elsewhere -------------------------------------------------------------------


def test_read_only_user_is_never_offered_a_key_export(reader: User, operator: User, entry: Certificate) -> None:
    client = _client(reader)
    page = _page(client.get(f"/certificates/{entry.pk}/"))
    assert 'value="fullchain"' in page and 'value="chain"' in page and 'value="pem"' in page
    for secret in ("key", "combined", "pkcs12"):
        assert f'value="{secret}"' not in page
    assert "PKCS#12 export password" not in page and "never the private key" in page
    refused = client.post(f"/certificates/{entry.pk}/export/", {"export_format": "key"})
    assert refused.status_code == 403 and "never a private key" in _page(refused)
    assert client.post(f"/certificates/{entry.pk}/export/", {"export_format": "fullchain"}).status_code == 200
    assert 'value="pkcs12"' in _page(_client(operator).get(f"/certificates/{entry.pk}/"))


def test_read_only_user_sees_the_outcome_of_a_deployment_but_no_command_output(reader: User, operator: User) -> None:
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot")
    Deployment.objects.create(
        listener=listener, status="failed", error="the reload failed", log="reload: doveadm said OUTPUT-7731"
    )
    page = _page(_client(reader).get(f"/services/{listener.pk}/"))
    assert "the reload failed" in page and "OUTPUT-7731" not in page
    assert "OUTPUT-7731" in _page(_client(operator).get(f"/services/{listener.pk}/"))


# -- Django's admin ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["operator", "reader"])
def test_django_admin_is_for_admins_only(who: str, request: pytest.FixtureRequest, admin_client: Client) -> None:
    client = _client(request.getfixturevalue(who))
    for url in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{request.getfixturevalue(who).pk}/change/"):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0] == "/", url
        assert "Django's admin is for admins only" in _page(response)
    assert client.post("/admin/auth/user/add/", {"username": "mallory"}, follow=True).redirect_chain[-1][0] == "/"
    assert not User.objects.filter(username="mallory").exists()
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/auth/user/").status_code == 200
    assert 'name="password"' in Client().get("/admin/login/").content.decode(), "visitors: the login page, as before"
