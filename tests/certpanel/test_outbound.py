"""certpanel/outbound.py tried as an attacker would: internal addresses literal, by name and behind redirects; with
a witness that no connection was made (a listening socket that sees nobody, and Python's socket.connect audit)."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import requests

from certpanel import outbound
from certpanel.outbound import OutboundError, fetch, http_link, is_public
from tests.support.outbound import connect_attempts, http_server, listening


def _ok(body: bytes = b"hello") -> Any:
    return lambda request: (200, {"Content-Type": "application/octet-stream"}, body)


def _redirect(location: str) -> Any:
    return lambda request: (302, {"Location": location}, b"")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.0.0.2",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "100.64.0.1",  # CGNAT
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.10",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fe80::1%2",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "2001:db8::1",
    ],
)
def test_internal_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["1.1.1.1", "8.8.8.8", "93.184.215.14", "2606:4700:4700::1111"])
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(address)


def test_the_allow_list_takes_networks_addresses_and_names() -> None:
    allow = outbound.allow_list(["10.0.0.0/8", " 127.0.0.1 ", "Pebble.Internal.", "fd00::/8", ""])
    assert outbound.address_allowed("10.20.30.40", allow=allow)
    assert outbound.address_allowed("127.0.0.1", allow=allow) and outbound.address_allowed(
        "::ffff:127.0.0.1", allow=allow
    )
    assert not outbound.address_allowed("127.0.0.2", allow=allow)
    assert outbound.address_allowed("fd00::5", allow=allow) and not outbound.address_allowed("fe80::1", allow=allow)
    assert outbound.host_allowed_by_name("pebble.internal", allow=allow)
    assert not outbound.host_allowed_by_name("internal", allow=allow)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "data:text/plain,Do%20what%20thou%20wilt",
        "vbscript:msgbox(1)",
        "//evil.example/tos",
        "https:///no-host",
        "https://exa mple.com/",
        "ftp://ftp.example.com/tos.txt",
        "",
    ],
)
def test_only_http_urls_with_a_host_are_links(url: str) -> None:
    assert http_link(url) == ""


@pytest.mark.parametrize("url", ["https://letsencrypt.org/documents/LE-SA-v1.5.pdf", "HTTP://ca.example/tos"])
def test_http_urls_are_links(url: str) -> None:
    assert http_link(url) == url


# ---------------------------------------------------------------- nothing leaves for an address that is not allowed


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_refused_before_any_connection_literal_or_by_name(host: str, settings: Any) -> None:
    """`localhost` is a name that resolves to 127.0.0.1: the check is on the resolved address (DNS rebinding)."""
    settings.CERTPANEL_OUTBOUND_ALLOW = []
    with listening() as witness, connect_attempts() as attempts:
        with pytest.raises(OutboundError, match=r"^address not allowed"):
            fetch(f"http://{host}:{witness.port}/int.der", timeout=2, max_bytes=1000)
        assert witness.connections() == 0 and attempts == []


def test_the_metadata_address_is_refused_without_a_connect(settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    started = time.monotonic()
    with connect_attempts() as attempts, pytest.raises(OutboundError, match="address not allowed") as refused:
        fetch("http://169.254.169.254/latest/meta-data/iam/", timeout=5, max_bytes=1000)
    assert attempts == [] and time.monotonic() - started < 1
    assert "169.254" not in str(refused.value)


def test_a_name_that_rebinds_to_loopback_is_refused(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CA's name whose DNS answer turns into 127.0.0.1 between two lookups: resolved once, checked, refused."""
    settings.CERTPANEL_OUTBOUND_ALLOW = []
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "ca.rebind.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with listening() as witness, connect_attempts() as attempts:
        with pytest.raises(OutboundError, match="not allowed"):
            fetch(f"http://ca.rebind.example:{witness.port}/", timeout=2, max_bytes=1000)
        assert witness.connections() == 0 and attempts == []


@pytest.mark.parametrize("allow", ["127.0.0.1", "127.0.0.0/8", "localhost"])
def test_the_admin_allow_list_opens_loopback(allow: str, settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = [allow]
    with http_server({"/int.der": _ok()}) as server:
        host_url = server.url.replace("127.0.0.1", "localhost") if allow == "localhost" else server.url
        assert fetch(f"{host_url}/int.der", timeout=5, max_bytes=1000) == b"hello"


# ---------------------------------------------------------------- redirects


def test_a_same_host_redirect_is_followed(settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with http_server({"/old": _redirect("/int.der"), "/int.der": _ok()}) as server:
        assert fetch(f"{server.url}/old", timeout=5, max_bytes=1000) == b"hello"


def test_a_redirect_to_another_host_is_not_followed(settings: Any) -> None:
    """Even one the allow-list would let through: a fetch (AIA) stays on the host the certificate names."""
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    with listening("127.0.0.2") as other:
        redirecting = http_server({"/int.der": _redirect(f"http://127.0.0.2:{other.port}/int.der")})
        with redirecting as server, pytest.raises(OutboundError, match="redirects to another host"):
            fetch(f"{server.url}/int.der", timeout=5, max_bytes=1000)
        assert other.connections() == 0


def test_a_session_redirected_from_an_allowed_host_to_a_disallowed_address_is_refused(settings: Any) -> None:
    """What the ACME client does: requests follows the redirect, and the new connection is checked like the first."""
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with listening("127.0.0.2") as internal, connect_attempts() as attempts:
        routes = {
            "/dir": _redirect(f"http://127.0.0.2:{internal.port}/dir"),
            "/meta": _redirect("http://169.254.169.254/"),
        }
        with http_server(routes) as server:
            session = outbound.guard(requests.Session(), max_bytes=1000, read_seconds=5)
            for path in ("/dir", "/meta"):
                with pytest.raises(OutboundError, match="address not allowed"):
                    session.get(f"{server.url}{path}", timeout=5)
            assert server.paths == ["/dir", "/meta"]
        assert internal.connections() == 0
    assert {address[0] for address in attempts} == {"127.0.0.1"}, "only the allowed server was connected to"


# ---------------------------------------------------------------- bounded, generic, no proxy


def test_a_large_answer_is_cut(settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with http_server({"/big": _ok(b"x" * 300_000)}) as server, pytest.raises(OutboundError, match="too large"):
        fetch(f"{server.url}/big", timeout=5, max_bytes=256 * 1024)


def test_a_server_that_never_answers_times_out(settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with listening() as hanging:  # the handshake completes in the backlog; no byte ever comes back
        started = time.monotonic()
        with pytest.raises(OutboundError, match=r"^timed out$"):
            fetch(f"http://127.0.0.1:{hanging.port}/int.der", timeout=0.5, max_bytes=1000)
        assert time.monotonic() - started < 3


def test_a_refused_connection_says_so_without_the_address(settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with listening() as closed:
        port = closed.port
    with pytest.raises(OutboundError) as refused:
        fetch(f"http://127.0.0.1:{port}/int.der", timeout=2, max_bytes=1000)
    assert str(refused.value) == "could not connect"


def test_proxies_from_the_environment_are_not_used(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would connect on the panel's behalf where the guard cannot look."""
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with listening() as proxy, http_server({"/int.der": _ok()}) as server:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert fetch(f"{server.url}/int.der", timeout=5, max_bytes=1000) == b"hello"
        assert proxy.connections() == 0


def test_only_http_urls_are_fetched() -> None:
    for url in ("file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://ca.example/int.der"):
        with pytest.raises(OutboundError, match="only http"):
            fetch(url, timeout=1, max_bytes=1000)
