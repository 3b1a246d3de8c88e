"""RFC 2136 updates against a real BIND: TXT added and deleted by value, and each refusal in plain words."""

from __future__ import annotations

import base64
import socket
import threading
import time

import pytest

from repository.dns.names import ServerAddress
from repository.dns.rfc2136 import Tsig, txt_add, txt_delete
from repository.errors import DnsError, DnsUnavailable
from tests.repository.dns.conftest import DnsWorld
from tests.support.pebble import free_port


def test_txt_add_then_delete_removes_only_that_value(dns_world: DnsWorld, token: str) -> None:
    fqdn = f"_acme-challenge.{token}.example.test"
    txt_add(dns_world.server, "example.test", fqdn, "first-value", dns_world.tsig)
    txt_add(dns_world.server, "example.test", fqdn, "second-value", dns_world.tsig)
    assert sorted(dns_world.primary.txt(fqdn)) == ["first-value", "second-value"]

    txt_delete(dns_world.server, "example.test", fqdn, "first-value", dns_world.tsig)
    assert dns_world.primary.txt(fqdn) == ["second-value"]
    txt_delete(dns_world.server, "example.test", fqdn, "first-value", dns_world.tsig)  # again: no error
    txt_delete(dns_world.server, "example.test", fqdn, "second-value", dns_world.tsig)
    assert dns_world.primary.txt(fqdn) == []


def test_a_value_longer_than_one_txt_string_round_trips(dns_world: DnsWorld, token: str) -> None:
    fqdn, value = f"{token}.example.test", "v" * 300
    txt_add(dns_world.server, "example.test", fqdn, value, dns_world.tsig)
    assert dns_world.primary.txt(fqdn) == [value]
    txt_delete(dns_world.server, "example.test", fqdn, value, dns_world.tsig)
    assert dns_world.primary.txt(fqdn) == []


@pytest.mark.parametrize(
    "tsig",
    [
        Tsig("certpanel-test", "hmac-sha256", b"w" * 32),  # wrong secret: BADSIG
        Tsig("no-such-key", "hmac-sha256", b"w" * 32),  # unknown key: BADKEY
    ],
    ids=["wrong-secret", "unknown-key"],
)
def test_a_refused_tsig_key_says_so(dns_world: DnsWorld, token: str, tsig: Tsig) -> None:
    with pytest.raises(DnsError) as caught:
        txt_add(dns_world.server, "example.test", f"{token}.example.test", "v", tsig)
    assert f"refused the TSIG key '{tsig.name}': wrong secret or algorithm" in str(caught.value)
    assert caught.value.field == "tsig_secret"
    assert dns_world.primary.txt(f"{token}.example.test") == []


def test_the_wrong_algorithm_is_refused(dns_world: DnsWorld, token: str) -> None:
    tsig = Tsig(dns_world.key.name, "hmac-sha512", dns_world.tsig.secret)
    with pytest.raises(DnsError, match=r"wrong secret or algorithm"):
        txt_add(dns_world.server, "example.test", f"{token}.example.test", "v", tsig)


def test_a_zone_the_server_does_not_serve_is_not_authoritative(dns_world: DnsWorld, token: str) -> None:
    with pytest.raises(DnsError) as caught:
        txt_add(dns_world.server, "nothere.test", f"{token}.nothere.test", "v", dns_world.tsig)
    assert str(caught.value) == f"The DNS server {dns_world.server} is not authoritative for zone nothere.test."


def test_a_zone_without_an_update_policy_refuses(dns_world: DnsWorld, token: str) -> None:
    with pytest.raises(DnsError, match=r"refused to change .* update policy does not let key 'certpanel-test'"):
        txt_add(dns_world.server, "readonly.test", f"{token}.readonly.test", "v", dns_world.tsig)


def test_adding_at_a_cname_is_refused_not_silently_dropped(dns_world: DnsWorld) -> None:
    with pytest.raises(DnsError, match=r"alias.example.test is a CNAME"):
        txt_add(dns_world.server, "example.test", "alias.example.test", "v", dns_world.tsig)


def test_nothing_listening_is_unavailable(dns_world: DnsWorld) -> None:
    server = ServerAddress("127.0.0.1", free_port())
    with pytest.raises(DnsUnavailable, match=f"refused the connection: nothing listens on TCP port {server.port}"):
        txt_add(server, "example.test", "x.example.test", "v", dns_world.tsig, timeout=2)


def test_a_server_that_never_answers_times_out(dns_world: DnsWorld) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    server = ServerAddress("127.0.0.1", listener.getsockname()[1])
    started = time.monotonic()
    try:
        with pytest.raises(DnsUnavailable, match=r"did not answer within 0.5 s") as caught:
            txt_add(server, "example.test", "x.example.test", "v", dns_world.tsig, timeout=0.5)
        assert caught.value.field == "server" and time.monotonic() - started < 3
    finally:
        for sock in accepted:
            sock.close()
        listener.close()


def test_the_secret_never_shows_in_a_repr() -> None:
    secret = base64.b64decode("c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    assert "secret" not in repr(Tsig("k", "hmac-sha256", secret)).split("algorithm")[1]
