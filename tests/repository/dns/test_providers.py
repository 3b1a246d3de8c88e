"""Adding a DNS provider: checked against the real server before anything is stored; the secret sealed, never
audited; CNAME delegation picks the provider that really holds the record."""

from __future__ import annotations

import os

import pytest

from certpanel.models import AuditEvent
from repository.dns.providers import dns_provider_connection, dns_provider_create, dns_provider_for_name
from repository.dns.targets import challenge_name, dns_challenge_target, dns_record_target
from repository.errors import DnsError, DnsUnavailable
from repository.kek_rotation import kek_rotate
from repository.keystore import kek_id, sealed_kek_id
from repository.models import DnsProvider
from tests.repository.dns.conftest import DnsWorld
from tests.support.pebble import free_port

pytestmark = pytest.mark.django_db


def add(dns_world: DnsWorld, zone: str, **changes: str) -> DnsProvider:
    return dns_provider_create(**{**dns_world.provider_fields(zone), **changes})


def test_a_provider_is_stored_with_its_secret_sealed_and_audited_without_it(dns_world: DnsWorld) -> None:
    provider = add(dns_world, "Example.Test.", note="lab  server")
    assert (provider.zone, provider.server, provider.port, provider.note) == (
        "example.test",
        "127.0.0.1",
        dns_world.port,
        "lab server",
    )
    sealed = bytes(DnsProvider.objects.get().tsig_secret_sealed)
    assert dns_world.key.secret.encode() not in sealed and dns_world.tsig.secret not in sealed
    assert dns_provider_connection(provider).tsig == dns_world.tsig
    event = AuditEvent.objects.get(target_type="repository.dnsprovider")
    assert "added DNS provider for zone example.test" in event.detail
    assert dns_world.key.secret not in event.detail and dns_world.key.secret[:12] not in event.detail


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"tsig_secret": "not base64!"}, "tsig_secret", "The TSIG secret must be base64"),
        ({"zone": "nothere.test"}, "zone", "is not authoritative for zone nothere.test"),
        ({"zone": "www.example.test"}, "zone", "www.example.test is not a zone of"),
        ({"tsig_secret": "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="}, "tsig_secret", "wrong secret or algorithm"),
        ({"tsig_algorithm": "hmac-sha512"}, "tsig_secret", "wrong secret or algorithm"),
        ({"tsig_algorithm": "hmac-md5"}, "tsig_algorithm", "is not a TSIG algorithm"),
        ({"server": "127.0.0.1:99999"}, "server", "is not a DNS server"),
        ({"server": "<script>:53"}, "server", "is not a DNS server"),
        ({"zone": "exa mple.test"}, "zone", "is not a valid zone name"),
        ({"zone": "a\x00b.test"}, "zone", "is not a valid zone name"),
        ({"tsig_name": "key;rm -rf"}, "tsig_name", "is not a valid TSIG key name"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    dns_world: DnsWorld, changes: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(DnsError, match=message) as caught:
        dns_provider_create(**{**dns_world.provider_fields("example.test"), **changes})
    assert caught.value.field == field
    assert not DnsProvider.objects.exists() and not AuditEvent.objects.exists()


def test_an_unreachable_server_is_refused(dns_world: DnsWorld) -> None:
    with pytest.raises(DnsError, match=r"refused the connection") as caught:
        add(dns_world, "example.test", server=f"127.0.0.1:{free_port()}")
    assert caught.value.field == "server" and not DnsProvider.objects.exists()


def test_one_provider_per_zone(dns_world: DnsWorld) -> None:
    add(dns_world, "example.test")
    with pytest.raises(DnsError, match=r"already a DNS provider for zone example.test"):
        add(dns_world, "EXAMPLE.test")


def test_the_longest_zone_wins(dns_world: DnsWorld) -> None:
    parent, child = add(dns_world, "example.test"), add(dns_world, "sub.example.test")
    assert dns_provider_for_name("_acme-challenge.a.sub.example.test") == child
    assert dns_provider_for_name("_acme-challenge.www.example.test") == parent
    assert dns_provider_for_name("example.test") == parent
    assert dns_provider_for_name("notexample.test") is None


def test_a_child_zone_on_the_same_server_is_the_update_zone(dns_world: DnsWorld) -> None:
    add(dns_world, "example.test")
    target = dns_record_target("_acme-challenge.a.sub.example.test")
    assert (target.provider.zone, target.zone) == ("example.test", "sub.example.test")


def test_cname_delegation_picks_the_provider_of_the_target(dns_world: DnsWorld) -> None:
    add(dns_world, "example.test")
    delegated = add(dns_world, "delegated.test")
    target = dns_challenge_target("*.deleg.example.test")
    assert target.chain == ("_acme-challenge.deleg.example.test", "deleg.challenges.delegated.test")
    assert (target.provider, target.zone, target.fqdn) == (delegated, "delegated.test", target.chain[-1])
    assert dns_challenge_target("chain.example.test").fqdn == "chain.challenges.delegated.test"


def test_delegation_from_a_zone_without_provider_goes_through_the_resolver(dns_world: DnsWorld, settings) -> None:
    """The usual case: the panel has no key for example.test, whose _acme-challenge CNAME points into a zone it has
    a key for. Names outside every provider's zone are looked up with CERTPANEL_DNS_RESOLVERS (here: BIND)."""
    settings.CERTPANEL_DNS_RESOLVERS = [dns_world.primary.server]
    delegated = add(dns_world, "delegated.test")
    target = dns_challenge_target("deleg.example.test")
    assert target.chain == ("_acme-challenge.deleg.example.test", "deleg.challenges.delegated.test")
    assert (target.provider, target.zone) == (delegated, "delegated.test")
    with pytest.raises(DnsError, match=r"No DNS provider holds _acme-challenge\.www\.example\.test"):
        dns_challenge_target("www.example.test")


def test_a_resolver_that_does_not_answer_is_unavailable(
    dns_world: DnsWorld, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("repository.dns.targets.RESOLVER_SECONDS", 0.5)
    settings.CERTPANEL_DNS_RESOLVERS = [f"127.0.0.1:{free_port(udp=True)}"]
    with pytest.raises(DnsUnavailable, match=r"Cannot look up whether _acme-challenge.www.example.test is a CNAME"):
        dns_challenge_target("www.example.test")
    settings.CERTPANEL_DNS_RESOLVERS = ["not an address!"]
    with pytest.raises(DnsError, match=r"CERTPANEL_DNS_RESOLVERS: 'not an address!' is not a DNS server"):
        dns_challenge_target("www.example.test")


def test_challenge_targets_refuse_loops_cnames_and_names_without_provider(dns_world: DnsWorld, settings) -> None:
    settings.CERTPANEL_DNS_RESOLVERS = [dns_world.primary.server]  # deleg.challenges.delegated.test: NXDOMAIN
    add(dns_world, "example.test")
    with pytest.raises(DnsError, match=r"form a loop"):
        dns_challenge_target("loop.example.test")
    with pytest.raises(DnsError, match=r"No DNS provider holds deleg.challenges.delegated.test"):
        dns_challenge_target("deleg.example.test")
    with pytest.raises(DnsError, match=r"alias.example.test is a CNAME to www.example.test"):
        dns_record_target("alias.example.test")
    assert challenge_name("*.Www.Example.Test.") == "_acme-challenge.www.example.test"


def test_a_kek_rotation_reseals_the_tsig_secret(dns_world: DnsWorld, tmp_path, settings) -> None:
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = ""
    settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH = tmp_path / "key_encryption_key"
    provider = add(dns_world, "example.test")
    new = os.urandom(32)
    assert kek_rotate(new).resealed == 1
    provider.refresh_from_db()
    assert sealed_kek_id(provider.tsig_secret_sealed) == kek_id(new)
    assert dns_provider_connection(provider).tsig == dns_world.tsig
