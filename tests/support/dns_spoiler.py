"""A DNS forwarder for Pebble's `-dnsserver`: every query goes on to a real server (the BIND of dns_server.py) and
its answer comes back unchanged, except TXT answers at the names in ``spoiled``, whose values are replaced. The CA
then sees a wrong value while the panel (which asks the nameservers themselves) sees its own: the real path of a
DNS-01 challenge the CA refuses.

UDP and TCP on one loopback port, a thread each; nothing is cached.
"""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import dns.rrset

WRONG = "not-the-value-the-panel-published"


class DnsSpoiler:
    def __init__(self, upstream: str, upstream_port: int) -> None:
        self.upstream, self.upstream_port = upstream, upstream_port
        self.spoiled: set[str] = set()  # lowercase names, no trailing dot
        self._udp = _Udp(("127.0.0.1", 0), _UdpHandler)
        self._udp.spoiler = self
        port = self._udp.server_address[1]
        self._tcp = _Tcp(("127.0.0.1", port), _TcpHandler)
        self._tcp.spoiler = self
        self.address = f"127.0.0.1:{port}"

    def start(self) -> DnsSpoiler:
        for server in (self._udp, self._tcp):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()

    def answer(self, wire: bytes, *, tcp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
            ask = dns.query.tcp if tcp else dns.query.udp
            response = ask(query, self.upstream, port=self.upstream_port, timeout=2)
            _chase_cnames(response, ask, self.upstream, self.upstream_port)
        except (dns.exception.DNSException, OSError):
            return None
        for index, rrset in enumerate(response.answer):
            name = rrset.name.to_text(omit_final_dot=True).lower()
            if rrset.rdtype == dns.rdatatype.TXT and name in self.spoiled:
                response.answer[index] = dns.rrset.from_text(rrset.name, rrset.ttl, "IN", "TXT", f'"{WRONG}"')
        return response.to_wire()


def _chase_cnames(response: dns.message.Message, ask: Any, upstream: str, port: int) -> None:
    """Follow a CNAME into the zones the upstream serves, as a recursive resolver does (an authoritative server
    answers with the CNAME alone)."""
    question = response.question[0]
    for _ in range(8):
        last = response.answer[-1] if response.answer else None
        if last is None or last.rdtype != dns.rdatatype.CNAME or question.rdtype == dns.rdatatype.CNAME:
            return
        target = last[0].target
        more = ask(dns.message.make_query(target, question.rdtype), upstream, port=port, timeout=2)
        if not more.answer:
            return
        response.answer.extend(more.answer)


class _Udp(socketserver.ThreadingUDPServer):
    spoiler: DnsSpoiler
    daemon_threads = True


class _Tcp(socketserver.ThreadingTCPServer):
    spoiler: DnsSpoiler
    daemon_threads = True
    allow_reuse_address = True


class _UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.spoiler.answer(data, tcp=False)  # type: ignore[attr-defined]
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            size = int.from_bytes(self.rfile.read(2), "big")
            reply = self.server.spoiler.answer(self.rfile.read(size), tcp=True)  # type: ignore[attr-defined]
            if reply is not None:
                self.wfile.write(len(reply).to_bytes(2, "big") + reply)


@contextlib.contextmanager
def dns_spoiler(upstream: str, upstream_port: int) -> Iterator[DnsSpoiler]:
    spoiler = DnsSpoiler(upstream, upstream_port).start()
    try:
        yield spoiler
    finally:
        spoiler.close()


__all__ = ["WRONG", "DnsSpoiler", "dns_spoiler"]
