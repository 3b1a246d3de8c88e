"""Small TLS servers on loopback for the probe tests (tests/services/probes/): implicit TLS and the STARTTLS
dialogues of SMTP, IMAP, POP3, FTP and LDAP, each a script run per connection in a thread, plus their test PKI.

The servers use Python's ``ssl`` module, so the client (pyOpenSSL, in services/probes/tls.py) and the server are
independent implementations. Certificates are generated at test time; nothing here needs a database.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.support.factories import CA, Key, ec_key, make_ca, name

HOST = "127.0.0.1"
NAME = "mail.example.com"
# An hour ahead of import time: certificates issued later in a long run (from `now - 1 min`) are valid at NOW.
NOW = datetime.now(UTC) + timedelta(hours=1)
# LDAPMessage { messageID 1, ExtendedRequest { requestName "1.3.6.1.4.1.1466.20037" } }: what a probe sends.
STARTTLS_REQUEST = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"

# --- test PKI ---------------------------------------------------------------------------------


def self_signed(key: Key, names: list[str], *, cn: str | None = None, san: bool = True) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn or names[0]))
        .issuer_name(name(cn or names[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256())


@dataclass
class Pki:
    ca: CA
    key: Key
    leaf: x509.Certificate
    expired: x509.Certificate
    other_name: x509.Certificate
    selfsigned: x509.Certificate


def probe_pki() -> Pki:
    """A CA-issued leaf for NAME (and a wildcard), an expired one, one for another name, a self-signed one."""
    ca = make_ca("Probe")
    key = ec_key()
    return Pki(
        ca=ca,
        key=key,
        leaf=ca.issue(key.public_key(), [NAME, "*.example.net"]),
        expired=ca.issue(key.public_key(), [NAME], not_before=NOW - timedelta(days=100), days=30),
        other_name=ca.issue(key.public_key(), ["other.example.org"]),
        selfsigned=self_signed(key, [NAME]),
    )


def fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- the servers ------------------------------------------------------------------------------


class Conn:
    """Server side of one connection: byte-wise line reads so nothing meant for TLS is buffered."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, stop: threading.Event) -> None:
        self.sock: socket.socket = sock
        self.context = context
        self.stop = stop

    def line(self) -> str:
        data = b""
        while not data.endswith(b"\n"):
            byte = self.sock.recv(1)
            if not byte:
                raise ConnectionError("client left")
            data += byte
        return data.decode(errors="replace").strip()

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(f"{line}\r\n" for line in lines).encode())

    def start_tls(self) -> None:
        self.sock = self.context.wrap_socket(self.sock, server_side=True)
        while self.sock.recv(1024):  # until the client closes
            pass

    def hang(self) -> None:
        self.stop.wait(10)


Script = Callable[[Conn], None]


class MiniServer:
    """A listener on 127.0.0.1 and a free port, running ``script`` for each client in a thread."""

    def __init__(self, context: ssl.SSLContext, script: Script) -> None:
        self.context, self.script = context, script
        self.stop = threading.Event()
        self.listener = socket.create_server((HOST, 0), backlog=32)
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(10)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn(sock, self.context, self.stop)
        try:
            self.script(conn)
        except (OSError, ConnectionError, ssl.SSLError):
            pass  # the probe hung up its way; not this test's concern
        finally:
            conn.sock.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.listener.close()


# --- what they say: one script per protocol ---------------------------------------------------


def smtp(*, offer_starttls: bool = True, auth: bool = False, delay: float = 0) -> Script:
    def script(c: Conn) -> None:
        time.sleep(delay)
        c.send("220-mx.example.com ESMTP test", "220 second greeting line")
        while True:
            command = c.line().upper()
            if command.startswith("EHLO"):
                extensions = ["PIPELINING"] + (["AUTH PLAIN LOGIN"] if auth else [])
                extensions += ["STARTTLS"] if offer_starttls else []
                c.send("250-mx.example.com", *(f"250-{e}" for e in extensions[:-1]), f"250 {extensions[-1]}")
            elif command == "STARTTLS":
                c.send("220 2.0.0 Ready to start TLS")
                return c.start_tls()
            else:
                c.send("502 5.5.2 Error: command not recognized")

    return script


def imap(*, offer_starttls: bool = True, plaintext: bool = False) -> Script:
    caps = "IMAP4rev1 SASL-IR" + (" STARTTLS" if offer_starttls else "")
    caps += " AUTH=PLAIN" if plaintext else " LOGINDISABLED"

    def script(c: Conn) -> None:
        c.send(f"* OK [CAPABILITY {caps}] Dovecot ready.")
        while True:
            tag, _, command = c.line().partition(" ")
            if command.upper() == "CAPABILITY":
                c.send(
                    f"* CAPABILITY {caps}",
                    f"{tag} OK Pre-login capabilities listed, post-login capabilities have more.",
                )
            elif command.upper() == "STARTTLS" and offer_starttls:
                c.send(f"{tag} OK Begin TLS negotiation now.")
                return c.start_tls()
            else:
                c.send(f"{tag} BAD Error in IMAP command")

    return script


def pop3(*, offer_stls: bool = True, plaintext: bool = False, capa: bool = True) -> Script:
    def script(c: Conn) -> None:
        c.send("+OK Dovecot ready.")
        while True:
            command = c.line().upper()
            if command == "CAPA" and capa:
                lines = ["TOP", "UIDL"] + (["USER", "SASL PLAIN LOGIN"] if plaintext else ["SASL"])
                c.send("+OK", *lines, *(["STLS"] if offer_stls else []), ".")
            elif command == "STLS" and offer_stls:
                c.send("+OK Begin TLS negotiation now.")
                return c.start_tls()
            else:
                c.send("-ERR Unknown command.")

    return script


def ftp(*, offer_tls: bool = True) -> Script:
    def script(c: Conn) -> None:
        c.send("220-Welcome to the test FTP", "  free text line", "220 ready")
        while True:
            command = c.line().upper()
            if command == "AUTH TLS" and offer_tls:
                c.send("234 Proceed with negotiation.")
                return c.start_tls()
            c.send("530 Please login with USER and PASS.")

    return script


def ldap(*, result: int = 0, with_name: bool = False) -> Script:
    def script(c: Conn) -> None:
        request = c.sock.recv(len(STARTTLS_REQUEST))
        assert request == STARTTLS_REQUEST
        diagnostic = b"" if result == 0 else b"unsupported extended operation"
        body = bytes([0x0A, 1, result, 0x04, 0, 0x04, len(diagnostic)]) + diagnostic
        if with_name:
            body += bytes([0x8A, 22]) + b"1.3.6.1.4.1.1466.20037"
        body = bytes([0x78, len(body)]) + body
        c.sock.sendall(bytes([0x30, len(body) + 3, 0x02, 1, 1]) + body)
        if result == 0:
            c.start_tls()

    return script


def implicit(*, delay: float = 0) -> Script:
    def script(c: Conn) -> None:
        time.sleep(delay)
        c.start_tls()

    return script


def silent(c: Conn) -> None:
    c.hang()
