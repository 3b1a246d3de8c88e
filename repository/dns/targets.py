"""Where the DNS-01 TXT record of a host name goes: ``_acme-challenge.<name>``, after its CNAMEs, in the zone a
provider's server holds it in (repository/dns/zones.py has the rules). The ACME order slice calls
``dns_challenge_target`` once per identifier, then ``records.dns_record_publish`` with what it returns.

CNAMEs are looked up at the provider's server when a provider's zone holds the name, else with a resolver: the
system's, or CERTPANEL_DNS_RESOLVERS (the usual delegation: a zone the panel has no key for points
``_acme-challenge`` into one it has).
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings

from repository.dns import names
from repository.dns.providers import dns_provider_connection, dns_provider_for_name
from repository.dns.rfc2136 import server_ip
from repository.dns.zones import cname_at, cname_chain, cname_refuse, zone_of
from repository.errors import DnsError, DnsUnavailable
from repository.models import DnsProvider

CHALLENGE_LABEL = "_acme-challenge"
RESOLVER_SECONDS = 5.0


@dataclass(frozen=True)
class RecordTarget:
    provider: DnsProvider
    zone: str  # the zone the update goes to: the provider's, or one below it on the same server
    fqdn: str  # the name that holds the TXT record


@dataclass(frozen=True)
class ChallengeTarget(RecordTarget):
    hostname: str  # the identifier being validated
    chain: tuple[str, ...]  # _acme-challenge.<hostname> and every CNAME after it; the last is ``fqdn``


def challenge_name(hostname: str) -> str:
    """RFC 8555 8.4: the record of ``*.example.com`` and of ``example.com`` is ``_acme-challenge.example.com``."""
    return f"{CHALLENGE_LABEL}.{hostname.lower().removeprefix('*.').removesuffix('.')}"


def resolver() -> dns.resolver.Resolver:
    """CERTPANEL_DNS_RESOLVERS when set (IP[:PORT] each), else the system's resolvers."""
    configured = settings.CERTPANEL_DNS_RESOLVERS
    if not configured:
        return dns.resolver.Resolver()
    chosen = dns.resolver.Resolver(configure=False)
    try:
        addresses = [names.server_address(entry) for entry in configured]
    except DnsError as exc:
        raise DnsError(f"CERTPANEL_DNS_RESOLVERS: {exc}") from None
    chosen.nameservers = [dns.nameserver.Do53Nameserver(server_ip(address), address.port) for address in addresses]
    chosen.lifetime = RESOLVER_SECONDS
    return chosen


def cname_lookup(name: str) -> str | None:
    provider = dns_provider_for_name(name)
    if provider is not None:
        connection = dns_provider_connection(provider)
        return cname_at(connection.server, name, tsig=connection.tsig)
    try:
        answer = resolver().resolve(name, "CNAME", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    except dns.exception.DNSException as exc:
        raise DnsUnavailable(f"Cannot look up whether {name} is a CNAME: {exc}") from None
    for rdata in answer.rrset or ():
        return str(rdata.target).lower().removesuffix(".")
    return None


def dns_record_target(fqdn: str) -> RecordTarget:
    """The provider and zone for a TXT record at ``fqdn``; DnsError when no provider holds it, when its server puts
    it in a zone delegated elsewhere, or when ``fqdn`` is a CNAME (an update there would be silently ignored)."""
    name = fqdn.lower().removesuffix(".")
    provider = dns_provider_for_name(name)
    if provider is None:
        raise DnsError(
            f"No DNS provider holds {name}: add one for its zone (Settings → DNS providers), or point "
            f"{name} at a name in a provider's zone with a CNAME."
        )
    connection = dns_provider_connection(provider)
    zone = zone_of(connection.server, name, tsig=connection.tsig)
    if zone != provider.zone and not zone.endswith("." + provider.zone):
        raise DnsError(
            f"The DNS server {connection.server} no longer serves zone {provider.zone} ({name} is in zone {zone} "
            "there): check the DNS provider's settings.",
            field="zone",
        )
    cname_refuse(connection.server, name, tsig=connection.tsig)
    return RecordTarget(provider=provider, zone=zone, fqdn=name)


def dns_challenge_target(hostname: str) -> ChallengeTarget:
    chain = cname_chain(challenge_name(hostname), cname_lookup)
    target = dns_record_target(chain[-1])
    return ChallengeTarget(
        provider=target.provider, zone=target.zone, fqdn=target.fqdn, hostname=hostname, chain=tuple(chain)
    )
