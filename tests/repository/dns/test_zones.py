"""Zone discovery by SOA at the provider's server, CNAME chains, and the CNAME check, against a real BIND."""

from __future__ import annotations

import pytest

from repository.dns.names import ServerAddress
from repository.dns.zones import cname_at, cname_chain, cname_refuse, zone_check, zone_of
from repository.errors import DnsError
from tests.repository.dns.conftest import DnsWorld


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("example.test", "example.test"),
        ("_acme-challenge.www.example.test", "example.test"),
        ("_acme-challenge.deep.sub.example.test", "sub.example.test"),  # a child zone on the same server
        ("x.challenges.delegated.test", "delegated.test"),
    ],
)
def test_the_zone_of_a_name_is_found_by_soa(dns_world: DnsWorld, name: str, zone: str) -> None:
    assert zone_of(dns_world.server, name, tsig=dns_world.tsig) == zone


def test_a_name_delegated_to_other_servers_names_the_child_zone(dns_world: DnsWorld) -> None:
    with pytest.raises(DnsError, match=r"is in zone away.example.test, which .* delegates to other nameservers"):
        zone_of(dns_world.server, "_acme-challenge.away.example.test", tsig=dns_world.tsig)


def test_a_name_the_server_serves_no_zone_for(dns_world: DnsWorld) -> None:
    with pytest.raises(DnsError, match=r"is not authoritative for x.nothere.test or any zone above it"):
        zone_of(dns_world.server, "x.nothere.test", tsig=dns_world.tsig)


def test_zone_check_accepts_a_served_zone_and_refuses_others(dns_world: DnsWorld) -> None:
    zone_check(dns_world.server, "example.test", tsig=dns_world.tsig)
    with pytest.raises(DnsError, match=r"not authoritative for zone nothere.test") as caught:
        zone_check(dns_world.server, "nothere.test", tsig=dns_world.tsig)
    assert caught.value.field == "zone"
    with pytest.raises(DnsError, match=r"www.example.test is not a zone of .* inside zone example.test"):
        zone_check(dns_world.server, "www.example.test", tsig=dns_world.tsig)


def test_cname_chains_are_followed_at_the_server(dns_world: DnsWorld) -> None:
    def lookup(name: str) -> str | None:
        return cname_at(dns_world.server, name, tsig=dns_world.tsig)

    assert cname_chain("_acme-challenge.deleg.example.test", lookup) == [
        "_acme-challenge.deleg.example.test",
        "deleg.challenges.delegated.test",
    ]
    assert cname_chain("_acme-challenge.chain.example.test", lookup)[-1] == "chain.challenges.delegated.test"
    assert cname_chain("_acme-challenge.www.example.test", lookup) == ["_acme-challenge.www.example.test"]
    with pytest.raises(DnsError, match=r"form a loop \(_acme-challenge.loop.example.test → loop1.example.test → "):
        cname_chain("_acme-challenge.loop.example.test", lookup)


def test_long_cname_chains_are_bounded() -> None:
    with pytest.raises(DnsError, match=r"more than 8 hops"):
        cname_chain("a.test", lambda name: "x" + name)


def test_a_cname_is_detected_before_an_update(dns_world: DnsWorld) -> None:
    with pytest.raises(DnsError, match=r"alias.example.test is a CNAME to www.example.test: a TXT record added there"):
        cname_refuse(dns_world.server, "alias.example.test", tsig=dns_world.tsig)
    cname_refuse(dns_world.server, "www.example.test", tsig=dns_world.tsig)


def test_lookups_without_a_key_work_too(dns_world: DnsWorld) -> None:
    assert zone_of(ServerAddress("127.0.0.1", dns_world.port), "a.example.test", tsig=None) == "example.test"
