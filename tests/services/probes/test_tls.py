"""services.probes.tls: resolving and connecting within the deadline, the TLS handshake, and every way they fail,
against small servers on loopback (the resolver is faked where a test needs a name).
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable

import pytest

from services.probes.run import probe
from tests.support.probe_servers import HOST, NAME, Conn, MiniServer, closed_port, imap, implicit, silent, smtp


def test_connection_refused() -> None:
    result = probe(host=HOST, port=closed_port(), protocol="smtp", server_name=NAME)
    assert not result.ok and result.error == "connection refused"
    assert result.starttls_offered is None and result.tls_version == ""


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolver is faked: these tests stay on loopback.
    def nxdomain(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    result = probe(host="no-such-host.invalid", port=25, protocol="smtp", server_name=NAME, timeout=2)
    assert not result.ok and result.error == "cannot resolve no-such-host.invalid"


def test_slow_resolver_is_bounded_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object, **kwargs: object) -> list[object]:
        time.sleep(2)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    result = probe(host="mail.example.com", port=25, protocol="smtp", server_name=NAME, timeout=0.3)
    assert result.error == "timed out after 0.3 s waiting for the address of mail.example.com"
    assert result.elapsed_ms < 600


@pytest.mark.parametrize(("protocol", "stage"), [("smtp", "the SMTP greeting"), ("imaps", "the TLS handshake")])
def test_silent_server_times_out_on_time(serve: Callable[..., MiniServer], protocol: str, stage: str) -> None:
    port = serve(silent).port
    started = time.monotonic()
    result = probe(host=HOST, port=port, protocol=protocol, server_name=NAME, timeout=0.5)
    elapsed = time.monotonic() - started
    assert not result.ok and result.error == f"timed out after 0.5 s waiting for {stage}"
    assert 0.45 < elapsed < 1.0, elapsed  # the timeout plus a little


def test_wrong_protocol_on_the_port(serve: Callable[..., MiniServer]) -> None:
    result = probe(host=HOST, port=serve(imap()).port, protocol="smtp", server_name=NAME)
    greeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED] Dovecot ready."
    assert result.error == f"the server does not speak SMTP (it said '{greeting}')"
    tls_on_plain = probe(host=HOST, port=serve(smtp()).port, protocol="smtps", server_name=NAME)
    assert tls_on_plain.error.startswith("TLS handshake failed: wrong version number (the server answered without TLS")


def test_server_that_hangs_up_during_handshake(serve: Callable[..., MiniServer]) -> None:
    def rude(c: Conn) -> None:
        c.sock.recv(10)

    result = probe(host=HOST, port=serve(rude).port, protocol="ldaps", server_name=NAME)
    # Closing with our ClientHello unread makes the kernel send a reset rather than a FIN.
    assert result.error in (
        "TLS handshake failed: the server closed the connection",
        "TLS handshake failed: the server reset the connection",
    )


def test_tls_version_is_reported(serve: Callable[..., MiniServer]) -> None:
    server = serve(implicit(), maximum_version=ssl.TLSVersion.TLSv1_2)
    result = probe(host=HOST, port=server.port, protocol="pop3s", server_name=NAME)
    assert result.ok and result.tls_version == "TLSv1.2" and result.cipher


def test_sni_is_sent_except_for_ip_addresses(serve: Callable[..., MiniServer]) -> None:
    seen: list[str | None] = []
    port = serve(implicit(), sni_seen=seen).port
    probe(host=HOST, port=port, protocol="https", server_name="Mail.Example.COM")
    probe(host=HOST, port=port, protocol="https", server_name="bücher.example")
    ip_result = probe(host=HOST, port=port, protocol="https", server_name="127.0.0.1")
    assert seen == ["mail.example.com", "xn--bcher-kva.example", None]
    assert not ip_result.hostname_ok  # the test certificate has no IP SAN
