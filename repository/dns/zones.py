"""Which zone holds a name, where an ``_acme-challenge`` CNAME leads, and whether a name is a CNAME. Pure.

The rules:

- **Ask the provider's server, not the system resolver.** Zone discovery and the CNAME check query the
  provider's server at its port (TCP, TSIG-signed): it is authoritative, it sees an update at once (no cache), and a
  lab or test server on a port other than 53 is reachable only that way. Only names outside every provider's zone
  (the start of a CNAME delegation, in a zone the panel has no key for) are looked up with the system resolver; the
  caller supplies that lookup (repository/dns/targets.py).
- **The zone of a name** is found by SOA queries walking up its labels: the first name whose SOA the server answers
  authoritatively, or the SOA an authoritative negative answer carries. A referral (the name lies in a child zone
  delegated to other servers) is an error naming the child zone; so is a server that is authoritative for none of
  the names. This matters: BIND accepts an update of ``x.sub.example.com`` sent to zone ``example.com`` when
  ``sub`` is delegated, and the record then sits under the zone cut, never served.
- **CNAME delegation** (``_acme-challenge.www.example.com CNAME www.acme.example.net``) is followed hop by hop, at
  most ``MAX_CNAME_HOPS``, and a name seen twice is a loop.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype

from repository.dns.names import ServerAddress
from repository.dns.rfc2136 import DEFAULT_TIMEOUT, Tsig, query
from repository.errors import DnsError

MAX_CNAME_HOPS = 8
CnameLookup = Callable[[str], str | None]  # name -> its CNAME target (no trailing dot), or None


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def zone_of(server: ServerAddress, name: str, *, tsig: Tsig | None, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The zone ``server`` serves that holds ``name`` (see the module's rules); DnsError when it serves none."""
    candidate = dns.name.from_text(name)
    while True:
        response = query(server, candidate.to_text(), "SOA", tsig=tsig, timeout=timeout)
        authoritative = bool(response.flags & dns.flags.AA) and response.rcode() in (
            dns.rcode.NOERROR,
            dns.rcode.NXDOMAIN,
        )
        if authoritative:
            for rrset in response.answer:
                if rrset.rdtype == dns.rdatatype.SOA and rrset.name == candidate:
                    return _text(candidate)
            for rrset in response.authority:
                if rrset.rdtype == dns.rdatatype.SOA:
                    return _text(rrset.name)
        referral = [rrset for rrset in response.authority if rrset.rdtype == dns.rdatatype.NS]
        if not response.flags & dns.flags.AA and referral:
            child = _text(referral[0].name)
            raise DnsError(
                f"{_text(dns.name.from_text(name))} is in zone {child}, which {server} delegates to other "
                f"nameservers ({', '.join(sorted(_text(ns.target) for ns in referral[0]))}): add a DNS provider "
                f"for zone {child}.",
                field="zone",
            )
        if candidate == dns.name.root or len(candidate) <= 2:  # never walk up to a TLD or the root
            break
        candidate = candidate.parent()
    raise DnsError(
        f"The DNS server {server} is not authoritative for {_text(dns.name.from_text(name))} or any zone above it.",
        field="zone",
    )


def zone_check(server: ServerAddress, zone: str, *, tsig: Tsig, timeout: float = DEFAULT_TIMEOUT) -> None:
    """The provider's settings work: the server answers a signed SOA query for ``zone`` itself, authoritatively.
    A wrong key fails here too (the server checks the signature of a query as of an update)."""
    response = query(server, zone, "SOA", tsig=tsig, timeout=timeout)
    apex = dns.name.from_text(zone)
    serves = bool(response.flags & dns.flags.AA) and any(
        rrset.rdtype == dns.rdatatype.SOA and rrset.name == apex for rrset in response.answer
    )
    if serves:
        return
    found = [_text(rrset.name) for rrset in response.authority if rrset.rdtype == dns.rdatatype.SOA]
    if found and response.flags & dns.flags.AA:
        raise DnsError(f"{zone} is not a zone of {server}: it is a name inside zone {found[0]}.", field="zone")
    raise DnsError(f"The DNS server {server} is not authoritative for zone {zone}.", field="zone")


def cname_at(server: ServerAddress, name: str, *, tsig: Tsig | None, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The CNAME target of ``name`` as ``server`` serves it, or None when the name owns no CNAME."""
    response = query(server, name, "CNAME", tsig=tsig, timeout=timeout)
    owner = dns.name.from_text(name)
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == owner:
            return _text(next(iter(rrset)).target)
    return None


def cname_refuse(server: ServerAddress, name: str, *, tsig: Tsig | None, timeout: float = DEFAULT_TIMEOUT) -> None:
    """DnsError when ``name`` is a CNAME: an update there would be accepted and silently ignored."""
    target = cname_at(server, name, tsig=tsig, timeout=timeout)
    if target is not None:
        raise DnsError(
            f"{name} is a CNAME to {target}: a TXT record added there would be ignored by the DNS server. "
            f"The record belongs at {target} (the panel follows the CNAME when it picks the name itself)."
        )


def cname_chain(name: str, lookup: CnameLookup, *, max_hops: int = MAX_CNAME_HOPS) -> list[str]:
    """``[name, target, target's target, …]`` up to the first name that is no CNAME; DnsError on a loop or a chain
    longer than ``max_hops``."""
    chain = [name]
    while (target := lookup(chain[-1])) is not None:
        if target in chain:
            loop = " → ".join([*chain[chain.index(target) :], target])
            raise DnsError(f"The CNAMEs from {name} form a loop ({loop}): fix them in DNS.")
        chain.append(target)
        if len(chain) > max_hops:
            raise DnsError(
                f"The CNAMEs from {name} go on for more than {max_hops} hops ({' → '.join(chain[:4])} → …): "
                "point _acme-challenge straight at the name that holds the record."
            )
    return chain
