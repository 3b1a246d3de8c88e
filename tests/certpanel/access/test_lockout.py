"""Failed logins lock one (address, user name) pair, with the address a trusted proxy saw, never one it was told."""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from certpanel.access.client_address import client_address

PASSWORD = "right-password-123"
ATTACKER, COLLEAGUE = "203.0.113.66", "203.0.113.7"
PROXY = "127.0.0.1"
LOOPBACK = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")]


@pytest.fixture
def users(db: None, settings) -> None:  # type: ignore[no-untyped-def]
    # Dozens of logins per test: a fast hash keeps them quick (what is tested is the lockout, not the hash).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for name in ("alice", "bob"):
        get_user_model().objects.create_user(name, password=PASSWORD, is_staff=True)


def _login(username: str, password: str, address: str, forwarded_for: str = "") -> str:
    """'in', 'locked' or 'refused', as a fresh browser at ``address`` sees it."""
    extra = {"REMOTE_ADDR": address}
    if forwarded_for:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    response = Client().post("/login/", {"username": username, "password": password}, **extra)  # type: ignore[arg-type]
    if response.status_code == 302:
        return "in"
    return "locked" if "Too many failed logins" in response.content.decode() else "refused"


def _fail(times: int, username: str, address: str, forwarded_for: str = "") -> None:
    for _ in range(times):
        assert _login(username, "wrong", address, forwarded_for) in ("refused", "locked")


def test_a_locked_user_does_not_lock_other_users_at_that_address_nor_itself_elsewhere(users: None, settings) -> None:  # type: ignore[no-untyped-def]
    _fail(settings.AXES_FAILURE_LIMIT, "alice", ATTACKER)
    assert _login("alice", PASSWORD, ATTACKER) == "locked"
    assert _login("bob", PASSWORD, ATTACKER) == "in"  # review: ten failures for one user locked every user
    assert _login("alice", PASSWORD, COLLEAGUE) == "in"  # review: ...and that user from every address


def test_one_failure_short_of_the_limit_does_not_lock(users: None, settings) -> None:  # type: ignore[no-untyped-def]
    _fail(settings.AXES_FAILURE_LIMIT - 1, "alice", ATTACKER)
    assert _login("alice", PASSWORD, ATTACKER) == "in"


def test_behind_a_trusted_proxy_each_client_has_its_own_lock(users: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CERTPANEL_TRUSTED_PROXIES = LOOPBACK
    _fail(settings.AXES_FAILURE_LIMIT, "alice", PROXY, forwarded_for=ATTACKER)
    assert _login("alice", PASSWORD, PROXY, forwarded_for=ATTACKER) == "locked"
    # review: behind a proxy everyone shared one address, so the attacker locked alice out for everyone.
    assert _login("alice", PASSWORD, PROXY, forwarded_for=COLLEAGUE) == "in"


def test_a_client_cannot_escape_the_lock_by_writing_its_own_forwarded_for(users: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CERTPANEL_TRUSTED_PROXIES = LOOPBACK
    limit = settings.AXES_FAILURE_LIMIT
    # Straight to the panel (no trusted proxy): the header is ignored, a new made-up address per try changes nothing.
    for attempt in range(limit):
        _login("alice", "wrong", ATTACKER, forwarded_for=f"198.51.100.{attempt}")
    assert _login("alice", PASSWORD, ATTACKER, forwarded_for="198.51.100.200") == "locked"
    # Through the proxy: what the client wrote is left of what the proxy appended, and is ignored too.
    for attempt in range(limit):
        _login("bob", "wrong", PROXY, forwarded_for=f"198.51.100.{attempt}, {COLLEAGUE}")
    assert _login("bob", PASSWORD, PROXY, forwarded_for=f"198.51.100.250, {COLLEAGUE}") == "locked"


def test_without_a_trusted_proxy_forwarded_for_is_never_believed(users: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CERTPANEL_TRUSTED_PROXIES = []
    _fail(settings.AXES_FAILURE_LIMIT, "alice", PROXY, forwarded_for=ATTACKER)
    assert _login("alice", PASSWORD, PROXY, forwarded_for=COLLEAGUE) == "locked"


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.5", "", "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not a trusted proxy: its header is the client's word
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the leftmost entry was written by the client
        ("127.0.0.1", "198.51.100.1, 10.0.0.2", "198.51.100.1"),  # two proxies, both trusted
        ("127.0.0.1", "198.51.100.1, 10.9.0.2", "10.9.0.2"),  # a hop nobody trusts is where belief stops
        ("127.0.0.1", "garbage", "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
        ("::1", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_client_address_reads_forwarded_for_from_the_right_past_trusted_proxies(
    remote: str, forwarded: str, expected: str
) -> None:
    trusted = [*LOOPBACK, ipaddress.ip_network("10.0.0.0/24")]
    assert client_address(remote, forwarded, trusted) == expected
