"""Waiting for every authoritative nameserver: BIND alone, BIND + a Knot secondary, and a Knot that never learns
the record (bounded wait, then a plain-words failure naming it)."""

from __future__ import annotations

import time

import pytest

from repository.dns.propagation import Nameserver, PropagationTimeout, wait_for_txt, zone_nameservers
from repository.dns.rfc2136 import txt_add
from tests.repository.dns.conftest import DnsWorld
from tests.support.pebble import free_port


def test_nameservers_are_the_zone_ns_records_at_the_provider_port(dns_world: DnsWorld) -> None:
    found = zone_nameservers(dns_world.server, "multi.test", tsig=dns_world.tsig)
    assert found == [
        Nameserver("ns1.multi.test", "127.0.0.1", dns_world.port),
        Nameserver("ns2.multi.test", "127.0.0.2", dns_world.port),
    ]


def test_one_nameserver_serves_the_record(dns_world: DnsWorld, token: str) -> None:
    fqdn = f"_acme-challenge.{token}.example.test"
    nameservers = zone_nameservers(dns_world.server, "example.test", tsig=dns_world.tsig)
    txt_add(dns_world.server, "example.test", fqdn, "one", dns_world.tsig)
    said: list[str] = []
    outcome = wait_for_txt(nameservers, fqdn, "one", seconds=5, progress=said.append)
    assert outcome.complete and said[-1] == "1 of 1 nameserver serves the record"


def test_two_nameservers_serve_the_record_once_the_secondary_has_it(dns_world: DnsWorld, token: str) -> None:
    fqdn = f"_acme-challenge.{token}.multi.test"
    nameservers = zone_nameservers(dns_world.server, "multi.test", tsig=dns_world.tsig)
    txt_add(dns_world.server, "multi.test", fqdn, "two", dns_world.tsig)
    said: list[str] = []
    outcome = wait_for_txt(nameservers, fqdn, "two", seconds=10, progress=said.append)
    assert outcome.complete and said[-1] == "2 of 2 nameservers serve the record"
    assert dns_world.secondary.txt(fqdn) == ["two"]


def test_a_nameserver_that_never_serves_it_fails_in_plain_words(dns_world: DnsWorld, token: str) -> None:
    fqdn = f"_acme-challenge.{token}.stale.test"
    nameservers = zone_nameservers(dns_world.server, "stale.test", tsig=dns_world.tsig)
    txt_add(dns_world.server, "stale.test", fqdn, "three", dns_world.tsig)
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(PropagationTimeout) as caught:
        wait_for_txt(nameservers, fqdn, "three", seconds=1.5, progress=said.append)
    assert time.monotonic() - started < 4
    message = str(caught.value)
    assert message.startswith(f"After 1.5 s, 1 of 2 nameservers serve the record at {fqdn}. Not served by: ")
    assert f"ns3.stale.test (127.0.0.3 port {dns_world.port}): does not serve it yet" in message
    assert "ns1.stale.test" not in message.split("Not served by:")[1]
    assert said[0].startswith("1 of 2 nameservers serve the record; waiting for ns3.stale.test")


def test_a_nameserver_that_does_not_answer_is_named(dns_world: DnsWorld, token: str) -> None:
    fqdn = f"_acme-challenge.{token}.example.test"
    txt_add(dns_world.server, "example.test", fqdn, "four", dns_world.tsig)
    silent = Nameserver("ns9.example.test", "127.0.0.1", free_port(udp=True))
    nameservers = [Nameserver("ns1.example.test", "127.0.0.1", dns_world.port), silent]
    with pytest.raises(PropagationTimeout, match=r"ns9.example.test \(127.0.0.1 port \d+\): "):
        wait_for_txt(nameservers, fqdn, "four", seconds=1)


def test_polling_backs_off_without_fixed_sleeps(dns_world: DnsWorld, token: str) -> None:
    fqdn = f"{token}.stale.test"
    slept: list[float] = []
    now = [0.0]
    nameservers = [Nameserver("ns3.stale.test", "127.0.0.3", dns_world.port)]
    with pytest.raises(PropagationTimeout):
        wait_for_txt(
            nameservers,
            fqdn,
            "v",
            seconds=5,
            clock=lambda: now[0],
            sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)),
        )
    assert slept[:5] == [0.05, 0.1, 0.2, 0.4, 0.8] and max(slept) == 1.0 and sum(slept) == pytest.approx(5)
