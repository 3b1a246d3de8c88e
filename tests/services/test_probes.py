"""services.probes: pure parts first, then probes against small TLS servers written here (loopback only).

The in-test servers use Python's ``ssl`` module, so the client (pyOpenSSL) and server are independent
implementations. Certificates are generated at test time; nothing here needs a database.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from services.probes import run, starttls
from services.probes.run import ProbeTarget, probe, probe_many
from services.probes.starttls import ProbeFailure, Reader
from services.protocols import BY_CODE, PROTOCOLS
from tests.support.factories import CA, Key, ec_key, key_pem, make_ca, name, pem

HOST = "127.0.0.1"
NAME = "mail.example.com"
# An hour ahead of import time: certificates issued later in a long run (from `now - 1 min`) are valid at NOW.
NOW = datetime.now(UTC) + timedelta(hours=1)

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


@pytest.fixture(scope="module")
def pki() -> Pki:
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


# --- unit: what an admin pastes ---------------------------------------------------------------


def test_fingerprint_normalization() -> None:
    plain = "ab" * 32
    assert run._normalize_fingerprint("SHA256:" + ":".join(["AB"] * 32)) == plain
    assert run._normalize_fingerprint(f"  {plain.upper()} ") == plain


# --- unit: readers and BER --------------------------------------------------------------------


def reader(*chunks: bytes) -> Reader:
    pending = list(chunks)
    return Reader(lambda: pending.pop(0) if pending else b"")


def test_smtp_reply_multi_line_split_across_chunks() -> None:
    r = reader(b"220-mx.example.com ESMTP\r\n22", b"0-second\r\n220 ready\r\n250 next\r\n")
    assert starttls.read_smtp_reply(r) == (220, ["mx.example.com ESMTP", "second", "ready"])
    assert starttls.read_smtp_reply(r) == (250, ["next"])
    assert starttls.read_smtp_reply(reader(b"250\n")) == (250, [""])  # bare code, bare LF


def test_smtp_reply_rejects_other_protocols_and_eof() -> None:
    with pytest.raises(ProbeFailure, match=r"does not speak SMTP \(it said '\* OK Dovecot ready.'\)"):
        starttls.read_smtp_reply(reader(b"* OK Dovecot ready.\r\n"))
    with pytest.raises(ProbeFailure, match="closed the connection"):
        starttls.read_smtp_reply(reader(b"220-half"))


def test_overlong_line_is_refused() -> None:
    with pytest.raises(ProbeFailure, match="overlong"):
        reader(*([b"x" * 4096] * 10)).readline()


def test_smtp_facts() -> None:
    ehlo = ["mx.example.com Hello", "PIPELINING", "AUTH PLAIN LOGIN", "STARTTLS"]
    assert starttls.smtp_facts(ehlo) == (True, True)
    assert starttls.smtp_facts(["mx", "SIZE 1000", "AUTH=LOGIN"]) == (False, True)
    assert starttls.smtp_facts(["mx says STARTTLS AUTH", "8BITMIME"]) == (False, False)  # greeting line ignored


def test_ftp_reply_with_free_text_middle_lines() -> None:
    r = reader(b"220-Welcome\r\n  to 220 FTP\r\n230 looks like a code\r\n220 ready\r\n")
    assert starttls.read_ftp_reply(r) == (220, ["Welcome", "  to 220 FTP", "230 looks like a code", "220 ready"])
    assert starttls.read_ftp_reply(reader(b"234 Proceed\r\n")) == (234, ["Proceed"])


def test_imap_response_and_capabilities() -> None:
    r = reader(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n* OK extra\r\na1 OK done\r\n")
    status, text, untagged = starttls.read_imap_response(r, "a1")
    assert (status, text) == ("OK", "done")
    caps = starttls.imap_capabilities(untagged[0])
    assert caps == {"IMAP4REV1", "STARTTLS", "LOGINDISABLED"}
    assert starttls.imap_plaintext_auth(caps) is False
    assert starttls.imap_capabilities("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi") == {"IMAP4REV1", "AUTH=PLAIN"}
    assert starttls.imap_plaintext_auth({"IMAP4REV1", "AUTH=PLAIN"}) is True
    assert starttls.imap_plaintext_auth({"IMAP4REV1"}) is True  # LOGIN works unless LOGINDISABLED
    with pytest.raises(ProbeFailure, match="ended the session"):
        starttls.read_imap_response(reader(b"* BYE shutting down\r\n"), "a1")


def test_pop3_lines_and_facts() -> None:
    r = reader(b"TOP\r\nUSER\r\nSASL PLAIN\r\n..dot\r\nSTLS\r\n.\r\n+OK after\r\n")
    lines = starttls.read_pop3_lines(r)
    assert lines == ["TOP", "USER", "SASL PLAIN", ".dot", "STLS"]
    assert r.readline() == "+OK after"
    assert starttls.pop3_facts(lines) == (True, True)
    assert starttls.pop3_facts(["SASL CRAM-MD5", "STLS"]) == (True, False)
    assert starttls.pop3_facts(["SASL LOGIN"]) == (False, True)


STARTTLS_REQUEST = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"
# LDAPMessage { messageID 1, ExtendedResponse { resultCode success, matchedDN "", diagnosticMessage "" } }
STARTTLS_OK = bytes.fromhex("300c02010178070a010004000400")


def test_ber_request_is_the_well_known_bytes() -> None:
    assert starttls.ldap_starttls_request(1) == STARTTLS_REQUEST
    assert starttls.ldap_starttls_request(200)[2:6] == bytes.fromhex("020200c8")  # sign bit kept clear
    assert starttls.ber_tlv(0x04, b"x" * 200)[:3] == bytes.fromhex("0481c8")
    assert starttls.ber_tlv(0x04, b"x" * 300)[:4] == bytes.fromhex("0482012c")


def test_ber_response_success_and_with_response_name() -> None:
    content = starttls.read_ber_message(reader(STARTTLS_OK[:3], STARTTLS_OK[3:]))
    assert starttls.parse_ldap_extended_response(content) == starttls.LdapResponse(1, 0, "", "")
    oid = starttls.ber_tlv(0x8A, b"1.3.6.1.4.1.1466.20037")
    body = starttls.ber_tlv(0x78, bytes.fromhex("0a01000400") + bytes.fromhex("0400") + oid)
    message = starttls.ber_tlv(0x30, bytes.fromhex("020101") + body)
    response = starttls.parse_ldap_extended_response(starttls.read_ber_message(reader(message)))
    assert response.result_code == 0 and response.response_name == "1.3.6.1.4.1.1466.20037"


def test_ber_response_failure_long_form_and_garbage() -> None:
    diagnostic = b"unsupported extended operation " * 10  # > 255 bytes: long-form lengths
    body = starttls.ber_tlv(0x78, bytes.fromhex("0a01020400") + starttls.ber_tlv(0x04, diagnostic))
    message = starttls.ber_tlv(0x30, bytes.fromhex("020101") + body)
    assert message[1] == 0x82
    response = starttls.parse_ldap_extended_response(starttls.read_ber_message(reader(message)))
    assert response.result_code == 2 and response.diagnostic.startswith("unsupported extended operation")
    with pytest.raises(ProbeFailure, match="does not speak LDAP"):
        starttls.read_ber_message(reader(b"220 smtp here\r\n"))
    with pytest.raises(ProbeFailure, match="truncated"):
        starttls.parse_ldap_extended_response(bytes.fromhex("020101780a0a0100"))
    with pytest.raises(ProbeFailure, match="not valid BER"):
        starttls.read_ber_message(reader(bytes.fromhex("3080")))


# --- in-test servers --------------------------------------------------------------------------


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


@pytest.fixture
def serve(tmp_path: Path, pki: Pki) -> Iterator[Callable[..., MiniServer]]:
    """serve(script, chain=[...]) -> a running MiniServer; all are stopped at the end of the test."""
    servers: list[MiniServer] = []
    counter = iter(range(1000))

    def start(script: Script, chain: list[x509.Certificate] | None = None, **tls: object) -> MiniServer:
        index = next(counter)
        certfile, keyfile = tmp_path / f"chain{index}.pem", tmp_path / f"key{index}.pem"
        certfile.write_bytes(pem(*(chain or [pki.leaf, pki.ca.intermediate])))
        keyfile.write_bytes(key_pem(pki.key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        if "maximum_version" in tls:
            context.maximum_version = tls["maximum_version"]  # type: ignore[assignment]
        if "sni_seen" in tls:
            seen: list[str | None] = tls["sni_seen"]  # type: ignore[assignment]
            context.sni_callback = lambda _sock, server_name, _ctx: seen.append(server_name)  # type: ignore[assignment,misc]
        server = MiniServer(context, script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- protocol tests ---------------------------------------------------------------------------

STARTTLS_SCRIPTS: dict[str, Callable[[], Script]] = {
    "smtp": smtp,
    "submission": smtp,
    "imap": imap,
    "pop3": pop3,
    "ftp": ftp,
    "ldap": ldap,
}


@pytest.mark.parametrize("protocol", [p.code for p in PROTOCOLS])
def test_every_protocol_proves_the_served_certificate(
    serve: Callable[..., MiniServer], pki: Pki, protocol: str
) -> None:
    script = STARTTLS_SCRIPTS.get(protocol, implicit)()
    server = serve(script)
    result = probe(host=HOST, port=server.port, protocol=protocol, server_name=NAME, expected_fingerprint=fp(pki.leaf))
    assert result.ok, result.error
    assert result.error == ""
    assert result.matches_expected is True and result.hostname_ok and result.chain_ok
    assert result.served_fingerprint_sha256 == fp(pki.leaf) == result.expected_fingerprint_sha256
    assert len(result.served_chain_pem) == 2
    assert result.served_chain_pem[1] == pem(pki.ca.intermediate).decode()
    assert result.tls_version == "TLSv1.3" and result.cipher.startswith("TLS_")
    assert result.days_left in (89, 90) and result.not_after == pki.leaf.not_valid_after_utc
    implicit_tls = BY_CODE[protocol].implicit
    assert result.starttls_offered is (None if implicit_tls else True)
    if implicit_tls or protocol in ("ftp", "ldap"):
        assert result.plaintext_auth_before_tls is None
    assert 0 < result.elapsed_ms < 2000


def test_mismatch_is_reported_with_both_fingerprints(serve: Callable[..., MiniServer], pki: Pki) -> None:
    server = serve(smtp())
    expected = fp(pki.other_name)
    result = probe(
        host=HOST, port=server.port, protocol="smtp", server_name=NAME, expected_fingerprint=expected.upper()
    )
    assert not result.ok and result.matches_expected is False
    assert result.hostname_ok and result.chain_ok  # everything else is fine
    assert result.error == (
        f"serves a different certificate (sha256 {fp(pki.leaf)[:12]}…) than the one assigned ({expected[:12]}…)"
    )


def test_without_expected_fingerprint_matches_is_none(serve: Callable[..., MiniServer]) -> None:
    result = probe(host=HOST, port=serve(implicit()).port, protocol="imaps", server_name=NAME)
    assert result.ok and result.matches_expected is None and result.expected_fingerprint_sha256 == ""


def test_wrong_hostname(serve: Callable[..., MiniServer], pki: Pki) -> None:
    server = serve(imap(), chain=[pki.other_name, pki.ca.intermediate])
    result = probe(
        host=HOST, port=server.port, protocol="imap", server_name=NAME, expected_fingerprint=fp(pki.other_name)
    )
    assert not result.ok and result.matches_expected is True and not result.hostname_ok
    assert result.error == f"the certificate does not cover {NAME}"


def test_incomplete_chain(serve: Callable[..., MiniServer], pki: Pki) -> None:
    result = probe(host=HOST, port=serve(pop3(), chain=[pki.leaf]).port, protocol="pop3", server_name=NAME)
    assert not result.ok and result.hostname_ok and not result.chain_ok
    assert result.error.startswith("the chain is incomplete: ") and result.error == result.chain_problems[0]
    assert len(result.served_chain_pem) == 1


def test_self_signed_leaf_is_fine(serve: Callable[..., MiniServer], pki: Pki) -> None:
    server = serve(ftp(), chain=[pki.selfsigned])
    result = probe(
        host=HOST, port=server.port, protocol="ftp", server_name=NAME, expected_fingerprint=fp(pki.selfsigned)
    )
    assert result.ok, result.error


def test_expired_leaf(serve: Callable[..., MiniServer], pki: Pki) -> None:
    server = serve(implicit(), chain=[pki.expired, pki.ca.intermediate])
    result = probe(host=HOST, port=server.port, protocol="smtps", server_name=NAME)
    assert not result.ok and not result.chain_ok
    assert result.days_left is not None and result.days_left < 0
    assert result.error == f"the certificate '{NAME}' expired on {pki.expired.not_valid_after_utc:%Y-%m-%d}"


def test_now_is_taken_into_account(serve: Callable[..., MiniServer], pki: Pki) -> None:
    port = serve(implicit()).port
    later = pki.leaf.not_valid_after_utc - timedelta(days=3, hours=1)
    result = probe(host=HOST, port=port, protocol="https", server_name=NAME, now=later.replace(tzinfo=None))
    assert result.ok and result.days_left == 3


@pytest.mark.parametrize(
    ("protocol", "script"),
    [("smtp", smtp(offer_starttls=False)), ("imap", imap(offer_starttls=False)), ("pop3", pop3(offer_stls=False))],
)
def test_server_without_starttls(serve: Callable[..., MiniServer], protocol: str, script: Script) -> None:
    result = probe(host=HOST, port=serve(script).port, protocol=protocol, server_name=NAME)
    assert not result.ok and result.starttls_offered is False
    assert result.error.startswith("the server does not offer STARTTLS")
    assert result.served_fingerprint_sha256 == "" and result.served_chain_pem == [] and result.days_left is None


def test_ftp_and_ldap_without_starttls(serve: Callable[..., MiniServer]) -> None:
    ftp_result = probe(host=HOST, port=serve(ftp(offer_tls=False)).port, protocol="ftp", server_name=NAME)
    assert ftp_result.starttls_offered is False
    assert ftp_result.error == "the server does not offer STARTTLS (AUTH TLS): 530 Please login with USER and PASS."
    ldap_result = probe(host=HOST, port=serve(ldap(result=2)).port, protocol="ldap", server_name=NAME)
    assert ldap_result.starttls_offered is False
    assert ldap_result.error == ("the server does not offer STARTTLS: LDAP result 2 (unsupported extended operation)")


def test_ldap_response_with_response_name(serve: Callable[..., MiniServer]) -> None:
    assert probe(host=HOST, port=serve(ldap(with_name=True)).port, protocol="ldap", server_name=NAME).ok


def test_pop3_without_capa_still_tries_stls(serve: Callable[..., MiniServer]) -> None:
    result = probe(host=HOST, port=serve(pop3(capa=False)).port, protocol="pop3", server_name=NAME)
    assert result.ok and result.starttls_offered is True and result.plaintext_auth_before_tls is None


@pytest.mark.parametrize(
    ("protocol", "script", "expected"),
    [
        ("smtp", smtp(auth=True), True),
        ("submission", smtp(auth=False), False),
        ("imap", imap(plaintext=True), True),
        ("imap", imap(plaintext=False), False),
        ("pop3", pop3(plaintext=True), True),
        ("pop3", pop3(plaintext=False), False),
    ],
)
def test_plaintext_auth_detection(
    serve: Callable[..., MiniServer], protocol: str, script: Script, expected: bool
) -> None:
    result = probe(host=HOST, port=serve(script).port, protocol=protocol, server_name=NAME)
    assert result.ok, result.error
    assert result.plaintext_auth_before_tls is expected


def test_connection_refused() -> None:
    result = probe(host=HOST, port=closed_port(), protocol="smtp", server_name=NAME)
    assert not result.ok and result.error == "connection refused"
    assert result.starttls_offered is None and result.tls_version == ""


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolver is faked: these tests stay on loopback.
    def nxdomain(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    result = probe(host="no-such-host.invalid", port=25, protocol="smtp", server_name=NAME, timeout=2)
    assert not result.ok and result.error == "cannot resolve no-such-host.invalid"


def test_slow_resolver_is_bounded_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object, **kwargs: object) -> list[object]:
        time.sleep(2)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    result = probe(host="mail.example.com", port=25, protocol="smtp", server_name=NAME, timeout=0.3)
    assert result.error == "timed out after 0.3 s waiting for the address of mail.example.com"
    assert result.elapsed_ms < 600


def test_server_that_closes_before_the_greeting(serve: Callable[..., MiniServer]) -> None:
    result = probe(host=HOST, port=serve(lambda c: None).port, protocol="submission", server_name=NAME)
    assert result.error == "the server closed the connection while we waited for the SMTP greeting"


@pytest.mark.parametrize(("protocol", "stage"), [("smtp", "the SMTP greeting"), ("imaps", "the TLS handshake")])
def test_silent_server_times_out_on_time(serve: Callable[..., MiniServer], protocol: str, stage: str) -> None:
    port = serve(silent).port
    started = time.monotonic()
    result = probe(host=HOST, port=port, protocol=protocol, server_name=NAME, timeout=0.5)
    elapsed = time.monotonic() - started
    assert not result.ok and result.error == f"timed out after 0.5 s waiting for {stage}"
    assert 0.45 < elapsed < 1.0, elapsed  # the timeout plus a little


def test_drip_feeding_server_cannot_stretch_the_deadline(serve: Callable[..., MiniServer]) -> None:
    def drip(c: Conn) -> None:
        c.sock.sendall(b"220-")
        while not c.stop.wait(0.05):
            c.sock.sendall(b"x")  # a greeting line that never ends, one byte at a time

    result = probe(host=HOST, port=serve(drip).port, protocol="smtp", server_name=NAME, timeout=0.5)
    assert result.error == "timed out after 0.5 s waiting for the SMTP greeting"
    assert result.elapsed_ms < 1000


def test_data_injected_after_starttls_is_refused(serve: Callable[..., MiniServer]) -> None:
    def injector(c: Conn) -> None:
        c.send("220 mx ESMTP")
        c.line()
        c.send("250-mx", "250 STARTTLS")
        c.line()
        c.send("220 go ahead", "250 injected before TLS")  # one packet: the extra line arrives with the 220
        c.hang()

    result = probe(host=HOST, port=serve(injector).port, protocol="smtp", server_name=NAME, timeout=2)
    assert result.error == "the server sent unexpected data right after agreeing to STARTTLS"
    assert result.starttls_offered is True and result.plaintext_auth_before_tls is False


def test_wrong_protocol_on_the_port(serve: Callable[..., MiniServer]) -> None:
    result = probe(host=HOST, port=serve(imap()).port, protocol="smtp", server_name=NAME)
    greeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED] Dovecot ready."
    assert result.error == f"the server does not speak SMTP (it said '{greeting}')"
    tls_on_plain = probe(host=HOST, port=serve(smtp()).port, protocol="smtps", server_name=NAME)
    assert tls_on_plain.error.startswith("TLS handshake failed: wrong version number (the server answered without TLS")


def test_server_that_hangs_up_during_handshake(serve: Callable[..., MiniServer]) -> None:
    def rude(c: Conn) -> None:
        c.sock.recv(10)

    result = probe(host=HOST, port=serve(rude).port, protocol="ldaps", server_name=NAME)
    # Closing with our ClientHello unread makes the kernel send a reset rather than a FIN.
    assert result.error in (
        "TLS handshake failed: the server closed the connection",
        "TLS handshake failed: the server reset the connection",
    )


def test_tls_version_is_reported(serve: Callable[..., MiniServer]) -> None:
    server = serve(implicit(), maximum_version=ssl.TLSVersion.TLSv1_2)
    result = probe(host=HOST, port=server.port, protocol="pop3s", server_name=NAME)
    assert result.ok and result.tls_version == "TLSv1.2" and result.cipher


def test_sni_is_sent_except_for_ip_addresses(serve: Callable[..., MiniServer]) -> None:
    seen: list[str | None] = []
    port = serve(implicit(), sni_seen=seen).port
    probe(host=HOST, port=port, protocol="https", server_name="Mail.Example.COM")
    probe(host=HOST, port=port, protocol="https", server_name="bücher.example")
    ip_result = probe(host=HOST, port=port, protocol="https", server_name="127.0.0.1")
    assert seen == ["mail.example.com", "xn--bcher-kva.example", None]
    assert not ip_result.hostname_ok  # the test certificate has no IP SAN


def test_unknown_protocol_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'gopher'"):
        probe(host=HOST, port=1, protocol="gopher", server_name=NAME)
    with pytest.raises(ValueError, match="unknown protocol"):
        probe_many([ProbeTarget(HOST, 1, "smtp", NAME), ProbeTarget(HOST, 1, "gopher", NAME)])


# --- many at once -----------------------------------------------------------------------------

TWELVE = ["smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "https", "ftp", "ftps", "ldap", "ldaps"]


def test_probe_many_twelve_listeners_in_input_order(serve: Callable[..., MiniServer], pki: Pki) -> None:
    targets = [
        ProbeTarget(HOST, serve(STARTTLS_SCRIPTS.get(p, implicit)()).port, p, NAME, fp(pki.leaf)) for p in TWELVE
    ]
    targets[5] = ProbeTarget(HOST, closed_port(), "pop3", NAME)
    started = time.monotonic()
    results = probe_many(targets)
    elapsed = time.monotonic() - started
    print(f"\nprobe_many: 12 loopback listeners in {elapsed * 1000:.0f} ms")
    assert [(r.port, r.protocol) for r in results] == [(t.port, t.protocol) for t in targets]
    assert [r.ok for r in results] == [i != 5 for i in range(12)]
    assert results[5].error == "connection refused"
    assert elapsed < 2.0


def test_probe_many_really_runs_concurrently(serve: Callable[..., MiniServer]) -> None:
    # Each server waits 0.4 s before speaking: in sequence that would be 4.8 s.
    ports = [serve(smtp(delay=0.4) if i % 2 else implicit(delay=0.4)).port for i in range(12)]
    targets = [ProbeTarget(HOST, port, "smtp" if i % 2 else "smtps", NAME) for i, port in enumerate(ports)]
    started = time.monotonic()
    results = probe_many(targets, timeout=3)
    elapsed = time.monotonic() - started
    print(f"\nprobe_many: 12 listeners with a 0.4 s delay each in {elapsed * 1000:.0f} ms")
    assert all(r.ok for r in results), [r.error for r in results]
    assert elapsed < 2.0  # in sequence: 4.8 s
    assert probe_many([]) == []
