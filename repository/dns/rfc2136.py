"""TXT records added and deleted by RFC 2136 dynamic update, signed with TSIG (RFC 8945), over TCP. Pure: dnspython
and the stdlib, no Django; the caller hands in the server, the zone and the key (repository/dns/providers.py
unseals it).

Every failure is a DnsError whose message says what to fix, and ``DnsUnavailable`` when the server did not answer
(a later try may work). What servers answer, and what the messages say:

- TSIG: BIND answers a wrong secret with BADSIG and an unknown key name or another algorithm with BADKEY; dnspython
  raises them as ``PeerBadSignature`` / ``PeerBadKey`` → "refused the TSIG key 'name': wrong secret or algorithm".
- NOTAUTH (a zone the server does not serve) → "not authoritative for zone Z". REFUSED is what BIND answers a key
  its update-policy does not allow, and what other servers (Knot, PowerDNS) answer for a zone they do not serve.
- A name that owns a CNAME: BIND accepts the TXT and silently drops it (RFC 2136 3.4.2.2). Every add therefore
  carries the prerequisite "no CNAME at this name", which the server checks in the same transaction: YXRRSET then
  means "this name is a CNAME" and nothing was changed.
- A delete names the value (class NONE, RFC 2136 2.5.4): only that TXT goes, others at the same name (a second
  challenge for a wildcard and its base name, another client's record) stay. Deleting a value that is not there
  succeeds (the server ignores it), so a delete can be repeated.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.update

from repository.dns.names import ServerAddress
from repository.errors import DnsError, DnsUnavailable

DEFAULT_TIMEOUT = 10.0
CHALLENGE_TTL = 60  # seconds; short, so a resolver that cached an old value forgets it soon


@dataclass(frozen=True)
class Tsig:
    name: str
    algorithm: str  # one of names.TSIG_ALGORITHMS
    secret: bytes = field(repr=False)  # never in a repr, a log line or a traceback's locals summary

    def key_name(self) -> dns.name.Name:
        return dns.name.from_text(self.name)

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        key = dns.tsig.Key(self.name, self.secret, self.algorithm)
        return {key.name: key}


def txt_rdata(value: str) -> dns.rdtypes.ANY.TXT.TXT:
    """One TXT rdata holding ``value`` (split into 255-byte strings, as a TXT string cannot be longer)."""
    data = value.encode("utf-8")
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)


def txt_text(rdata: object) -> str:
    """A TXT rdata's value as one string (its strings joined, as ACME reads it)."""
    strings = getattr(rdata, "strings", ())
    return b"".join(strings).decode("utf-8", errors="replace")


def txt_add(
    server: ServerAddress, zone: str, fqdn: str, value: str, tsig: Tsig, *, timeout: float = DEFAULT_TIMEOUT
) -> None:
    update = dns.update.UpdateMessage(
        zone, keyring=tsig.keyring(), keyname=tsig.key_name(), keyalgorithm=tsig.algorithm
    )
    name = dns.name.from_text(fqdn)  # absolute: a str would be taken relative to the zone
    update.absent(name, dns.rdatatype.CNAME)  # the server's own check, in the update's transaction (see above)
    update.add(name, CHALLENGE_TTL, txt_rdata(value))
    _send_update(update, server, zone=zone, fqdn=fqdn, tsig=tsig, timeout=timeout)


def txt_delete(
    server: ServerAddress, zone: str, fqdn: str, value: str, tsig: Tsig, *, timeout: float = DEFAULT_TIMEOUT
) -> None:
    update = dns.update.UpdateMessage(
        zone, keyring=tsig.keyring(), keyname=tsig.key_name(), keyalgorithm=tsig.algorithm
    )
    update.delete(dns.name.from_text(fqdn), txt_rdata(value))
    _send_update(update, server, zone=zone, fqdn=fqdn, tsig=tsig, timeout=timeout)


def _send_update(
    update: dns.update.UpdateMessage, server: ServerAddress, *, zone: str, fqdn: str, tsig: Tsig, timeout: float
) -> None:
    response = exchange(update, server, tsig=tsig, timeout=timeout)
    rcode = response.rcode()
    if rcode == dns.rcode.NOERROR:
        return
    if rcode == dns.rcode.YXRRSET:
        raise DnsError(
            f"{fqdn} is a CNAME, and a DNS server ignores a TXT record added next to a CNAME: the record must go "
            "where the CNAME points (the panel follows _acme-challenge CNAMEs itself; see `dns test`)."
        )
    raise update_refused(rcode, server=server, zone=zone, fqdn=fqdn, tsig=tsig)


def update_refused(rcode: dns.rcode.Rcode, *, server: ServerAddress, zone: str, fqdn: str, tsig: Tsig) -> DnsError:
    """The error for an update the server answered with ``rcode`` (not NOERROR)."""
    if rcode == dns.rcode.NOTAUTH:
        return DnsError(f"The DNS server {server} is not authoritative for zone {zone}.", field="zone")
    if rcode == dns.rcode.REFUSED:
        return DnsError(
            f"The DNS server {server} refused to change {fqdn} in zone {zone}: either it is not authoritative for "
            f"the zone, or its update policy does not let key '{tsig.name}' change TXT records there "
            f'(BIND: update-policy {{ grant "{tsig.name}" zonesub TXT; }};).',
            field="zone",
        )
    if rcode == dns.rcode.NOTZONE:
        return DnsError(f"{fqdn} is not in zone {zone} (the DNS server {server} says NOTZONE).", field="zone")
    if rcode == dns.rcode.SERVFAIL:
        return DnsUnavailable(f"The DNS server {server} failed to apply the update to zone {zone} (SERVFAIL).")
    return DnsError(f"The DNS server {server} refused the update to zone {zone} ({dns.rcode.to_text(rcode)}).")


def query(
    server: ServerAddress, name: str, rdtype: str, *, tsig: Tsig | None = None, timeout: float = DEFAULT_TIMEOUT
) -> dns.message.Message:
    """Ask ``server`` itself (no recursion) about ``name``, signed when ``tsig`` is given, over TCP."""
    message = dns.message.make_query(name, rdtype)
    message.flags &= ~dns.flags.RD
    if tsig is not None:
        message.use_tsig(tsig.keyring(), keyname=tsig.name, algorithm=tsig.algorithm)
    return exchange(message, server, tsig=tsig, timeout=timeout)


def exchange(
    message: dns.message.Message, server: ServerAddress, *, tsig: Tsig | None, timeout: float
) -> dns.message.Message:
    """Send over TCP and read the answer, every failure turned into a DnsError that names the server."""
    address = server_ip(server)
    try:
        return dns.query.tcp(message, address, port=server.port, timeout=timeout)
    except (dns.tsig.PeerBadKey, dns.tsig.PeerBadSignature):
        name = tsig.name if tsig else ""
        raise DnsError(
            f"The DNS server {server} refused the TSIG key '{name}': wrong secret or algorithm (or the server has "
            "no key of that name).",
            field="tsig_secret",
        ) from None
    except dns.tsig.PeerBadTime:
        raise DnsError(
            f"The DNS server {server} refused the TSIG signature's time: this machine's clock and the server's "
            "differ by more than five minutes."
        ) from None
    except dns.exception.Timeout:
        raise DnsUnavailable(f"The DNS server {server} did not answer within {timeout:g} s.", field="server") from None
    except ConnectionRefusedError:
        raise DnsUnavailable(
            f"The DNS server {server} refused the connection: nothing listens on TCP port {server.port} there.",
            field="server",
        ) from None
    except (EOFError, ConnectionError):
        raise DnsUnavailable(f"The DNS server {server} closed the connection without answering.") from None
    except OSError as exc:
        raise DnsUnavailable(f"Cannot reach the DNS server {server}: {_reason(exc)}.", field="server") from None
    except dns.exception.DNSException as exc:  # a TSIG or format check of the answer failed
        raise DnsError(f"The DNS server {server} sent an answer the panel cannot use ({exc}).") from None


def server_ip(server: ServerAddress) -> str:
    """The address to connect to: the host itself when it is one, else the first address the system resolves."""
    try:
        infos = socket.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DnsUnavailable(
            f"The DNS server's name {server.host} does not resolve on this machine.", field="server"
        ) from None
    return str(infos[0][4][0])


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "no route to it from this machine"
    return (exc.strerror or str(exc)).lower()
