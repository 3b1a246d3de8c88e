"""Wait until every authoritative nameserver of a zone serves a TXT value. Pure: dnspython and the stdlib.

A CA asks any of the zone's nameservers, so "published" means all of them: the NS records of the zone (asked of the
provider's server), each name resolved to its addresses (the glue in that answer, else the provider's server when
the name is in its zones, else the system resolver), and every address asked for the TXT record directly (no
recursion, no cache). The port rule: every nameserver is asked at the port of the provider's server. That is 53 in
real life; a lab or test setup that runs its primary on another port runs its other nameservers on that port too
(on other addresses). An address this machine has no route to (IPv6 on a host without it) is reported and not
waited for.

Polling starts at 50 ms and backs off to one second, bounded by the deadline (no fixed sleeps). ``progress`` gets a
sentence each time the count changes ("1 of 2 nameservers serve the record"), for a page or a terminal to show.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from repository.dns.names import ServerAddress
from repository.dns.rfc2136 import Tsig, query, txt_text
from repository.errors import DnsError, DnsUnavailable

FIRST_DELAY = 0.05
MAX_DELAY = 1.0
QUERY_TIMEOUT = 2.0
Progress = Callable[[str], None]
_NO_ROUTE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


@dataclass(frozen=True)
class Nameserver:
    name: str
    address: str
    port: int

    def __str__(self) -> str:
        where = self.address if self.port == 53 else f"{self.address} port {self.port}"
        return f"{self.name} ({where})"


@dataclass
class NameserverAnswer:
    nameserver: Nameserver
    values: tuple[str, ...] = ()  # the TXT values it served at the last ask
    error: str = ""  # why it gave no answer at the last ask
    serves: bool = False
    unreachable: bool = False  # no route from this machine: reported, not waited for

    def describe(self, value: str) -> str:
        if self.unreachable:
            return f"{self.nameserver}: no route from this machine, not checked"
        if self.serves:
            return f"{self.nameserver}: serves it"
        if self.error:
            return f"{self.nameserver}: {self.error}"
        if self.values:
            return f"{self.nameserver}: serves other values only ({', '.join(v[:20] for v in self.values[:3])})"
        return f"{self.nameserver}: does not serve it yet"


class PropagationTimeout(DnsError):
    """Some nameservers did not serve the value by the deadline; ``answers`` says what each one did."""

    def __init__(self, message: str, answers: list[NameserverAnswer]) -> None:
        super().__init__(message)
        self.answers = answers


@dataclass
class Propagation:
    fqdn: str
    value: str
    answers: list[NameserverAnswer] = field(default_factory=list)

    @property
    def waited_for(self) -> list[NameserverAnswer]:
        return [answer for answer in self.answers if not answer.unreachable]

    @property
    def complete(self) -> bool:
        return bool(self.waited_for) and all(answer.serves for answer in self.waited_for)

    def summary(self) -> str:
        serving = sum(answer.serves for answer in self.waited_for)
        total = len(self.waited_for)
        noun = "nameserver serves" if total == 1 and serving == 1 else "nameservers serve"
        return f"{serving} of {total} {noun} the record"


def zone_nameservers(
    server: ServerAddress, zone: str, *, tsig: Tsig | None, resolve: Callable[[str], list[str]] | None = None
) -> list[Nameserver]:
    """Every address of every NS of ``zone``, at the provider's port (see the module's port rule)."""
    response = query(server, zone, "NS", tsig=tsig)
    apex = dns.name.from_text(zone)
    names = sorted(
        {
            ns.target.to_text(omit_final_dot=True).lower()
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.NS and rrset.name == apex
            for ns in rrset
        }
    )
    if not names:
        raise DnsError(f"The DNS server {server} lists no NS records for zone {zone}.", field="zone")
    glue: dict[str, list[str]] = {}
    for rrset in response.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            glue.setdefault(rrset.name.to_text(omit_final_dot=True).lower(), []).extend(r.address for r in rrset)
    found = []
    for name in names:
        addresses = glue.get(name) or _addresses_at(server, name, tsig) or (resolve or system_addresses)(name)
        if not addresses:
            raise DnsError(f"The nameserver {name} of zone {zone} has no address: the panel cannot ask it.")
        found += [Nameserver(name, address, server.port) for address in sorted(set(addresses))]
    return found


def _addresses_at(server: ServerAddress, name: str, tsig: Tsig | None) -> list[str]:
    """A and AAAA of ``name`` as the provider's server answers them authoritatively ([] when it does not know)."""
    addresses: list[str] = []
    for rdtype in ("A", "AAAA"):
        response = query(server, name, rdtype, tsig=tsig)
        if response.flags & dns.flags.AA:
            addresses += [
                r.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype) for r in rrset
            ]
    return addresses


def system_addresses(name: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(name, 53, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def txt_values(nameserver: Nameserver, fqdn: str, *, timeout: float = QUERY_TIMEOUT) -> tuple[str, ...]:
    """The TXT values ``nameserver`` itself serves at ``fqdn`` (UDP, TCP when truncated); DnsUnavailable when it
    does not answer, DnsError when it answers with an error or without authority."""
    message = dns.message.make_query(fqdn, "TXT")
    message.flags &= ~dns.flags.RD
    try:
        response, _ = dns.query.udp_with_fallback(message, nameserver.address, port=nameserver.port, timeout=timeout)
    except dns.exception.Timeout:
        raise DnsUnavailable(f"no answer within {timeout:g} s") from None
    except OSError as exc:
        raise DnsUnavailable((exc.strerror or str(exc)).lower()) from exc
    except (EOFError, dns.exception.DNSException) as exc:
        raise DnsUnavailable(f"unreadable answer ({exc})") from None
    if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise DnsError(f"answered {dns.rcode.to_text(response.rcode())}")
    if not response.flags & dns.flags.AA:
        raise DnsError("answered without authority (it does not serve the zone)")
    owner = dns.name.from_text(fqdn)
    return tuple(
        txt_text(rdata)
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TXT and rrset.name == owner
        for rdata in rrset
    )


def _ask(answer: NameserverAnswer, fqdn: str, value: str, timeout: float) -> None:
    try:
        answer.values, answer.error = txt_values(answer.nameserver, fqdn, timeout=timeout), ""
    except DnsUnavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno in _NO_ROUTE:
            answer.unreachable = True
        answer.values, answer.error = (), str(exc)
    except DnsError as exc:
        answer.values, answer.error = (), str(exc)
    answer.serves = value in answer.values


def wait_for_txt(
    nameservers: list[Nameserver],
    fqdn: str,
    value: str,
    *,
    seconds: float,
    progress: Progress = lambda _: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Propagation:
    """Ask every nameserver until all serve ``value`` at ``fqdn``, or ``seconds`` pass (PropagationTimeout, in plain
    words, naming those that did not)."""
    state = Propagation(fqdn, value, [NameserverAnswer(ns) for ns in nameservers])
    deadline, delay, said = clock() + seconds, FIRST_DELAY, ""
    while True:
        for answer in state.answers:
            if not answer.serves and not answer.unreachable:
                _ask(answer, fqdn, value, max(0.1, min(QUERY_TIMEOUT, deadline - clock())))
        if (sentence := _progress_sentence(state)) != said:
            progress(sentence)
            said = sentence
        if state.complete:
            return state
        left = deadline - clock()
        if left <= 0 or not state.waited_for:
            raise PropagationTimeout(_timeout_message(state, seconds), state.answers)
        sleep(min(delay, left))
        delay = min(delay * 2, MAX_DELAY)


def _progress_sentence(state: Propagation) -> str:
    waiting = [str(answer.nameserver) for answer in state.waited_for if not answer.serves]
    if not waiting:
        return state.summary()
    return f"{state.summary()}; waiting for {', '.join(waiting[:3])}{' …' if len(waiting) > 3 else ''}"


def _timeout_message(state: Propagation, seconds: float) -> str:
    if not state.waited_for:
        return f"No nameserver of {state.fqdn} can be reached from this machine, so the record cannot be checked."
    missing = [answer.describe(state.value) for answer in state.waited_for if not answer.serves]
    return (
        f"After {seconds:g} s, {state.summary()} at {state.fqdn}. Not served by: {'; '.join(missing)}. A CA asking "
        "those nameservers would not find it: check that they get the zone's updates (NOTIFY and zone transfers "
        "from the primary)."
    )
