"""The socket: resolve and connect within the deadline, speak the STARTTLS dialogue, shake hands with TLS, and
keep what the server sent (its chain as sent, TLS version, cipher) for ``report`` to judge.

TLS is pyOpenSSL's: it hands over the whole chain the server sent (the stdlib's ``ssl`` cannot before Python 3.13).
It deliberately trusts no CA store: self-signed and private-CA certificates are normal here, so "trusted" would say
nothing useful.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import threading
from dataclasses import dataclass

from cryptography import x509
from OpenSSL import SSL

from repository.pki import safe
from repository.pki.hostnames import ascii_hostname, ip_literal
from services.probes.starttls import Channel, Deadline, Facts, ProbeFailure
from services.protocols import Dialogue

# Old servers must still be probed (and their TLS version shown), so nothing is refused here:
# TLS 1.0 up, every authenticated cipher, security level 0. Anonymous ciphers are left out
# because they would hide the very certificate we came for.
_CIPHERS = b"ALL:!aNULL:!eNULL:@SECLEVEL=0"
_Address = tuple[socket.AddressFamily, socket.SocketKind, int, tuple[str, int] | tuple[str, int, int, int]]


@dataclass(frozen=True)
class Served:
    """What the handshake produced: the raw facts before any judgement."""

    chain: list[x509.Certificate]
    tls_version: str
    cipher: str


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


def _handshake(sock: socket.socket, server_name: str, deadline: Deadline) -> Served:
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
    except safe.FAILURES:
        raise ProbeFailure("the server sent a certificate that cannot be parsed") from None
    served = Served(chain, connection.get_protocol_version_name(), connection.get_cipher_name() or "")
    with contextlib.suppress(SSL.Error):
        connection.shutdown()  # polite close_notify; the answer does not matter
    return served


def session(
    *, host: str, port: int, dialogue: Dialogue | None, server_name: str, deadline: Deadline, facts: Facts
) -> Served:
    """Connect, speak the STARTTLS ``dialogue`` if the protocol has one, shake hands: what the server sent.

    Every failure is a ``ProbeFailure`` with a sentence for the admin; ``facts`` keeps what the plaintext part
    revealed even then.
    """
    sock = _connect(host, port, deadline)
    try:
        if dialogue is not None:
            dialogue(Channel(sock, deadline), facts)
        return _handshake(sock, server_name, deadline)
    except OSError as exc:  # anything the layers above did not already translate
        raise ProbeFailure(f"connection lost: {(exc.strerror or str(exc)).lower()}") from None
    finally:
        sock.close()
