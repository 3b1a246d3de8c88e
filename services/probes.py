"""Prove which certificate each port of a server really serves: the only module that opens sockets.

A probe connects, speaks the protocol's plaintext opening when TLS starts with STARTTLS (see
``services.starttls``), completes a TLS handshake with pyOpenSSL and reports facts: the full
served chain, its fingerprint, whether it matches the assigned certificate, covers the name and
chains correctly. It deliberately trusts no CA store: self-signed and private-CA certificates
are normal here, so "trusted" would say nothing useful.

Pure library: no Django, callers pass plain values. Network, TLS and protocol problems never
raise; they come back as a ``ProbeResult`` with ``ok=False`` and an ``error`` for the admin.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from repository.pki.chain import verify_served_chain
from repository.pki.dates import as_utc, days_left
from repository.pki.describe import fingerprint_sha256
from repository.pki.hostnames import ascii_hostname, covers_name, ip_literal
from services.protocols import BY_CODE, Protocol
from services.starttls import Channel, Deadline, Facts, ProbeFailure

__all__ = ["ProbeResult", "ProbeTarget", "probe", "probe_many"]

# Old servers must still be probed (and their TLS version shown), so nothing is refused here:
# TLS 1.0 up, every authenticated cipher, security level 0. Anonymous ciphers are left out
# because they would hide the very certificate we came for.
_CIPHERS = b"ALL:!aNULL:!eNULL:@SECLEVEL=0"
_Address = tuple[socket.AddressFamily, socket.SocketKind, int, tuple[str, int] | tuple[str, int, int, int]]


@dataclass(frozen=True)
class ProbeTarget:
    host: str
    port: int
    protocol: str
    server_name: str
    expected_fingerprint: str = ""


@dataclass(frozen=True)
class ProbeResult:
    host: str
    port: int
    protocol: str
    server_name: str
    ok: bool
    served_fingerprint_sha256: str = ""
    expected_fingerprint_sha256: str = ""
    matches_expected: bool | None = None
    hostname_ok: bool = False
    chain_ok: bool = False
    chain_problems: list[str] = field(default_factory=list)
    served_chain_pem: list[str] = field(default_factory=list)
    days_left: int | None = None
    not_after: datetime | None = None
    tls_version: str = ""
    cipher: str = ""
    plaintext_auth_before_tls: bool | None = None
    starttls_offered: bool | None = None
    error: str = ""
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class _Served:
    """What the handshake produced: the raw facts before any judgement."""

    chain: list[x509.Certificate]
    tls_version: str
    cipher: str


def _normalize_fingerprint(value: str) -> str:
    # Accept what admins paste: "SHA256:AB:CD:..." or spaced hex.
    text = value.strip().lower().removeprefix("sha256").lstrip(":= ")
    return "".join(ch for ch in text if ch not in ": ")


# --- network ----------------------------------------------------------------------------------


def _resolve(host: str, port: int, deadline: Deadline) -> list[_Address]:
    """getaddrinfo within the deadline: it cannot time out by itself, so a slow resolver runs in a thread."""
    host = host.strip().removeprefix("[").removesuffix("]")
    outcome: list[list[_Address] | None] = []

    def lookup() -> None:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            # Only IPv4/IPv6 here (never AF_UNIX), whose addresses are (host, port[, flow, scope]).
            outcome.append([(fam, kind, proto, sa) for fam, kind, proto, _, sa in found if isinstance(sa[0], str)])
        except (OSError, UnicodeError):
            outcome.append(None)

    if ip_literal(host) is not None:
        lookup()  # a literal address needs no resolver
    else:
        thread = threading.Thread(target=lookup, name="probe-resolve", daemon=True)
        thread.start()
        thread.join(max(deadline.remaining(), 0))
    if not outcome:
        raise deadline.timed_out(f"the address of {host}")
    if not outcome[0]:
        raise ProbeFailure(f"cannot resolve {host}")
    return outcome[0]


def _connect(host: str, port: int, deadline: Deadline) -> socket.socket:
    """TCP connection within the deadline, trying each address the name resolves to."""
    failure = ProbeFailure(f"cannot resolve {host}")
    for family, kind, proto, address in _resolve(host, port, deadline):
        if deadline.remaining() <= 0:
            break
        sock = socket.socket(family, kind, proto)
        sock.settimeout(deadline.remaining())
        try:
            sock.connect(address)
            return sock
        except ConnectionRefusedError:
            failure = ProbeFailure("connection refused")
        except TimeoutError:
            failure = deadline.timed_out("the connection")
        except OSError as exc:
            failure = ProbeFailure(f"cannot connect: {(exc.strerror or str(exc)).lower()}")
        sock.close()
    if deadline.remaining() <= 0:
        failure = deadline.timed_out("the connection")
    raise failure


def _client_context() -> SSL.Context:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)  # facts, not trust: see the module docstring
    context.set_min_proto_version(SSL.TLS1_VERSION)
    context.set_cipher_list(_CIPHERS)
    context.set_options(SSL.OP_LEGACY_SERVER_CONNECT)  # pre-RFC 5746 servers still deserve an answer
    return context


def _wait(sock: socket.socket, deadline: Deadline, event: int) -> None:
    # selectors, not select.select: a busy process may hold descriptors above FD_SETSIZE.
    with selectors.DefaultSelector() as selector:
        selector.register(sock, event)
        if not selector.select(max(deadline.remaining(), 0)):
            raise deadline.timed_out("the TLS handshake")


def _tls_error(exc: SSL.Error) -> ProbeFailure:
    if isinstance(exc, SSL.ZeroReturnError) or (isinstance(exc, SSL.SysCallError) and exc.args[:1] == (-1,)):
        return ProbeFailure("TLS handshake failed: the server closed the connection")
    if isinstance(exc, SSL.SysCallError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        reason = "the server reset the connection" if code == errno.ECONNRESET else os.strerror(code).lower()
        return ProbeFailure(f"TLS handshake failed: {reason}")
    reasons = [str(item[-1]) for item in exc.args[0]] if exc.args and isinstance(exc.args[0], list) else []
    text = "; ".join(reasons) or str(exc)
    if "wrong version number" in text:  # what OpenSSL says when the answer is plaintext, not TLS
        text += " (the server answered without TLS: is this a STARTTLS port, or not TLS at all?)"
    return ProbeFailure(f"TLS handshake failed: {text}")


def _handshake(sock: socket.socket, server_name: str, deadline: Deadline) -> _Served:
    connection = SSL.Connection(_client_context(), sock)
    if server_name and ip_literal(server_name) is None:  # RFC 6066: SNI never carries an IP address
        connection.set_tlsext_host_name(ascii_hostname(server_name).encode("ascii"))
    connection.set_connect_state()
    # Non-blocking plus a selector: a socket timeout alone would surface as WantReadError anyway.
    sock.setblocking(False)
    while True:
        try:
            connection.do_handshake()
            break
        except SSL.WantReadError:
            _wait(sock, deadline, selectors.EVENT_READ)
        except SSL.WantWriteError:
            _wait(sock, deadline, selectors.EVENT_WRITE)
        except SSL.Error as exc:
            raise _tls_error(exc) from None
    try:
        chain = list(connection.get_peer_cert_chain(as_cryptography=True) or [])
    except ValueError:
        raise ProbeFailure("the server sent a certificate that cannot be parsed") from None
    served = _Served(chain, connection.get_protocol_version_name(), connection.get_cipher_name() or "")
    with contextlib.suppress(SSL.Error):
        connection.shutdown()  # polite close_notify; the answer does not matter
    return served


def _session(host: str, port: int, protocol: Protocol, server_name: str, deadline: Deadline, facts: Facts) -> _Served:
    sock = _connect(host, port, deadline)
    try:
        if protocol.starttls is not None:
            protocol.starttls(Channel(sock, deadline), facts)
        return _handshake(sock, server_name, deadline)
    except OSError as exc:  # anything the layers above did not already translate
        raise ProbeFailure(f"connection lost: {(exc.strerror or str(exc)).lower()}") from None
    finally:
        sock.close()


# --- judgement --------------------------------------------------------------------------------


def _judge(base: ProbeResult, served: _Served, expected: str, now: datetime) -> ProbeResult:
    """Fill in what follows from the served chain, including the error text."""
    base = replace(base, tls_version=served.tls_version, cipher=served.cipher)
    if not served.chain:
        return replace(base, error="the server sent no certificate")
    leaf = served.chain[0]
    served_fp = fingerprint_sha256(leaf)
    matches = served_fp == expected if expected else None
    hostname_ok = covers_name(leaf, base.server_name)
    problems = verify_served_chain(served.chain, now=now)
    failures: list[str] = []
    if matches is False:
        failures.append(
            f"serves a different certificate (sha256 {served_fp[:12]}…) than the one assigned ({expected[:12]}…)"
        )
    if not hostname_ok:
        failures.append(f"the certificate does not cover {base.server_name}")
    failures += problems
    return replace(
        base,
        ok=not failures,
        served_fingerprint_sha256=served_fp,
        matches_expected=matches,
        hostname_ok=hostname_ok,
        chain_ok=not problems,
        chain_problems=problems,
        served_chain_pem=[c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in served.chain],
        days_left=days_left(leaf.not_valid_after_utc, now=now),
        not_after=leaf.not_valid_after_utc,
        error="; ".join(failures),
    )


def _protocol(code: str) -> Protocol:
    try:
        return BY_CODE[code]
    except KeyError:
        raise ValueError(f"unknown protocol {code!r}; expected one of {', '.join(BY_CODE)}") from None


def probe(
    *,
    host: str,
    port: int,
    protocol: str,
    server_name: str,
    expected_fingerprint: str = "",
    timeout: float = 5.0,
    now: datetime | None = None,
) -> ProbeResult:
    """Connect, start TLS the protocol's way and report what is served. Raises only for bad arguments.

    An empty ``server_name`` falls back to ``host`` (that is the name a client would check).
    """
    known = _protocol(protocol)
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    started = time.monotonic()
    name = server_name or host
    expected = _normalize_fingerprint(expected_fingerprint)
    base = ProbeResult(host=host, port=port, protocol=protocol, server_name=name, ok=False)
    base = replace(base, expected_fingerprint_sha256=expected)
    facts = Facts()
    try:
        served = _session(host, port, known, name, Deadline(timeout), facts)
    except ProbeFailure as exc:
        result = replace(base, error=str(exc))
    else:
        result = _judge(base, served, expected, as_utc(now))
    return replace(
        result,
        plaintext_auth_before_tls=facts.plaintext_auth_before_tls,
        starttls_offered=facts.starttls_offered,
        elapsed_ms=(time.monotonic() - started) * 1000,
    )


def probe_many(targets: Sequence[ProbeTarget], *, timeout: float = 5.0, max_workers: int = 16) -> list[ProbeResult]:
    """Probe every target concurrently (threads, each with its own timeout); results in input order."""
    for target in targets:
        _protocol(target.protocol)  # fail fast on a programming error, before any connection is made
    if not targets:
        return []

    def run(target: ProbeTarget) -> ProbeResult:
        return probe(
            host=target.host,
            port=target.port,
            protocol=target.protocol,
            server_name=target.server_name,
            expected_fingerprint=target.expected_fingerprint,
            timeout=timeout,
        )

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(targets))), thread_name_prefix="probe") as pool:
        return list(pool.map(run, targets))
