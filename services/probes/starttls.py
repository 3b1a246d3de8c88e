"""The plaintext openings of the STARTTLS protocols, up to the moment TLS begins.

Spoken by ``services.probes.tls`` (which opens the sockets); the protocol table (``services.protocols``) names
the dialogue each protocol speaks. Every problem a server can cause is raised as ``ProbeFailure`` with a
message for the admin; the readers are pure over a ``recv`` callable so they can be tested without sockets.
No Django here.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "STARTTLS_OID",
    "Channel",
    "Deadline",
    "Facts",
    "LdapResponse",
    "ProbeFailure",
    "Reader",
    "ber_tlv",
    "ftp_dialogue",
    "imap_capabilities",
    "imap_dialogue",
    "imap_plaintext_auth",
    "ldap_dialogue",
    "ldap_starttls_request",
    "parse_ldap_extended_response",
    "pop3_dialogue",
    "pop3_facts",
    "read_ber_message",
    "read_ftp_reply",
    "read_imap_response",
    "read_pop3_lines",
    "read_smtp_reply",
    "smtp_dialogue",
    "smtp_facts",
]

STARTTLS_OID = "1.3.6.1.4.1.1466.20037"
HELO_NAME = "certpanel.probe"
# A hostile or broken server must not make a probe buffer without end before the deadline hits.
MAX_LINE = 16 * 1024
MAX_LINES = 1000
MAX_BER = 64 * 1024
_SMTP_LINE = re.compile(r"(\d{3})([ -]?)(.*)")


class ProbeFailure(Exception):
    """Something the server did (or did not do), in words for the admin."""


class Deadline:
    """One budget for the whole probe, so a server that drips bytes cannot stretch it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def timed_out(self, waiting_for: str) -> ProbeFailure:
        return ProbeFailure(f"timed out after {self.seconds:g} s waiting for {waiting_for}")


@dataclass
class Facts:
    """What the plaintext part revealed; mutable so it survives a dialogue that fails half-way."""

    starttls_offered: bool | None = None
    plaintext_auth_before_tls: bool | None = None


def shown(text: str | bytes, limit: int = 80) -> str:
    """A server line safe to put in an admin message: printable and short."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Reader:
    """Lines and exact byte counts over ``recv`` (which returns b"" at end of stream)."""

    def __init__(self, recv: Callable[[], bytes]) -> None:
        self._recv = recv
        self._buffer = b""
        self.waiting_for = "the server"  # set by the dialogues so errors say where it stopped

    @property
    def pending(self) -> bytes:
        return self._buffer

    def _fill(self) -> None:
        chunk = self._recv()
        if not chunk:
            raise ProbeFailure(f"the server closed the connection while we waited for {self.waiting_for}")
        self._buffer += chunk

    def readline(self) -> str:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                raise ProbeFailure(f"the server sent an overlong line while we waited for {self.waiting_for}")
            self._fill()
        line, _, self._buffer = self._buffer.partition(b"\n")
        # UTF-8 with replacement: greetings are ASCII in practice, and a stray byte must not abort a probe.
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data


class Channel(Reader):
    """A Reader over a connected socket; every read and write gets what is left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        super().__init__(self._recv_socket)
        self.sock = sock
        self.deadline = deadline

    def _arm(self) -> None:
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise self.deadline.timed_out(self.waiting_for)
        self.sock.settimeout(remaining)

    def _recv_socket(self) -> bytes:
        self._arm()
        try:
            return self.sock.recv(4096)
        except TimeoutError:
            raise self.deadline.timed_out(self.waiting_for) from None
        except OSError as exc:
            raise ProbeFailure(f"connection lost while we waited for {self.waiting_for}: {_reason(exc)}") from None

    def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else line.encode("ascii") + b"\r\n"
        self._arm()
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise self.deadline.timed_out("the server to accept our data") from None
        except OSError as exc:
            raise ProbeFailure(f"connection lost while sending to the server: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def _ready_for_tls(chan: Channel) -> None:
    # Bytes already queued after the "go ahead" would be taken as TLS: refuse (STARTTLS injection).
    if chan.pending:
        raise ProbeFailure("the server sent unexpected data right after agreeing to STARTTLS")


# --- SMTP -------------------------------------------------------------------------------------


def read_smtp_reply(reader: Reader, protocol: str = "SMTP") -> tuple[int, list[str]]:
    """One reply: lines "250-..." continue it, "250 ..." (or a bare "250") ends it."""
    texts: list[str] = []
    while len(texts) < MAX_LINES:
        line = reader.readline()
        match = _SMTP_LINE.fullmatch(line)
        if match is None:
            raise ProbeFailure(f"the server does not speak {protocol} (it said '{shown(line)}')")
        texts.append(match.group(3))
        if match.group(2) != "-":
            return int(match.group(1)), texts
    raise ProbeFailure(f"the server sent an endless {protocol} reply")


def smtp_facts(ehlo_lines: list[str]) -> tuple[bool, bool]:
    """(STARTTLS advertised, AUTH advertised) from the EHLO reply; its first line is the greeting."""
    keywords = {text.split()[0].upper() for text in ehlo_lines[1:] if text.split()}
    auth = any(word == "AUTH" or word.startswith("AUTH=") for word in keywords)  # AUTH= is the pre-RFC form
    return "STARTTLS" in keywords, auth


def smtp_dialogue(chan: Channel, facts: Facts) -> None:
    chan.waiting_for = "the SMTP greeting"
    code, texts = read_smtp_reply(chan)
    if code != 220:
        raise ProbeFailure(f"the server refused the session: {code} {shown(' '.join(texts))}")
    chan.send(f"EHLO {HELO_NAME}")
    chan.waiting_for = "the answer to EHLO"
    code, texts = read_smtp_reply(chan)
    if code != 250:
        raise ProbeFailure(f"the server refused EHLO: {code} {shown(' '.join(texts))}")
    facts.starttls_offered, facts.plaintext_auth_before_tls = smtp_facts(texts)
    if not facts.starttls_offered:
        raise ProbeFailure("the server does not offer STARTTLS")
    chan.send("STARTTLS")
    chan.waiting_for = "the answer to STARTTLS"
    code, texts = read_smtp_reply(chan)
    if code != 220:
        raise ProbeFailure(f"the server refused STARTTLS: {code} {shown(' '.join(texts))}")
    _ready_for_tls(chan)


# --- IMAP -------------------------------------------------------------------------------------


def imap_capabilities(text: str) -> set[str]:
    """Capabilities from "* CAPABILITY ..." or a greeting's "[CAPABILITY ...]" code, upper-cased."""
    match = re.search(r"\bCAPABILITY\b([^\]]*)", text, re.IGNORECASE)
    return {word.upper() for word in match.group(1).split()} if match else set()


def imap_plaintext_auth(capabilities: set[str]) -> bool:
    # RFC 3501: LOGIN works unless LOGINDISABLED, and an advertised AUTH=PLAIN/LOGIN works regardless.
    return "LOGINDISABLED" not in capabilities or bool({"AUTH=PLAIN", "AUTH=LOGIN"} & capabilities)


def read_imap_response(reader: Reader, tag: str) -> tuple[str, str, list[str]]:
    """Untagged lines until the tagged one: (status "OK"/"NO"/"BAD", its text, the untagged lines)."""
    untagged: list[str] = []
    while len(untagged) < MAX_LINES:
        line = reader.readline()
        if line.startswith(f"{tag} "):
            status, _, text = line[len(tag) + 1 :].partition(" ")
            return status.upper(), text, untagged
        if line.upper().startswith("* BYE"):
            raise ProbeFailure(f"the server ended the session: {shown(line)}")
        if not line.startswith(("*", "+")):
            raise ProbeFailure(f"the server does not speak IMAP (it said '{shown(line)}')")
        untagged.append(line)
    raise ProbeFailure("the server sent an endless IMAP response")


def imap_dialogue(chan: Channel, facts: Facts) -> None:
    chan.waiting_for = "the IMAP greeting"
    greeting = chan.readline()
    if not greeting.upper().startswith(("* OK", "* PREAUTH")):
        raise ProbeFailure(f"the server does not greet like IMAP (it said '{shown(greeting)}')")
    chan.send("a1 CAPABILITY")
    chan.waiting_for = "the answer to CAPABILITY"
    status, text, untagged = read_imap_response(chan, "a1")
    capabilities = imap_capabilities(greeting)
    if status == "OK":  # the CAPABILITY answer is authoritative over the greeting's hint
        capabilities = set().union(*(imap_capabilities(line) for line in untagged)) or capabilities
    facts.starttls_offered = "STARTTLS" in capabilities
    facts.plaintext_auth_before_tls = imap_plaintext_auth(capabilities)
    if not facts.starttls_offered:
        raise ProbeFailure("the server does not offer STARTTLS")
    chan.send("a2 STARTTLS")
    chan.waiting_for = "the answer to STARTTLS"
    status, text, _ = read_imap_response(chan, "a2")
    if status != "OK":
        raise ProbeFailure(f"the server refused STARTTLS: {status} {shown(text)}")
    _ready_for_tls(chan)


# --- POP3 -------------------------------------------------------------------------------------


def read_pop3_lines(reader: Reader) -> list[str]:
    """The body of a multi-line POP3 answer: up to the lone ".", with dot-stuffing undone."""
    lines: list[str] = []
    while len(lines) < MAX_LINES:
        line = reader.readline()
        if line == ".":
            return lines
        lines.append(line[1:] if line.startswith(".") else line)
    raise ProbeFailure("the server sent an endless POP3 answer")


def pop3_facts(capa: list[str]) -> tuple[bool, bool]:
    """(STLS advertised, cleartext password auth offered) from the CAPA lines."""
    words = [line.upper().split() for line in capa if line.split()]
    stls = any(w[0] == "STLS" for w in words)
    plain = any(w[0] == "USER" or (w[0] == "SASL" and {"PLAIN", "LOGIN"} & set(w[1:])) for w in words)
    return stls, plain


def pop3_dialogue(chan: Channel, facts: Facts) -> None:
    chan.waiting_for = "the POP3 greeting"
    greeting = chan.readline()
    if not greeting.startswith("+OK"):
        raise ProbeFailure(f"the server does not greet like POP3 (it said '{shown(greeting)}')")
    chan.send("CAPA")
    chan.waiting_for = "the answer to CAPA"
    answer = chan.readline()
    if answer.startswith("+OK"):
        facts.starttls_offered, facts.plaintext_auth_before_tls = pop3_facts(read_pop3_lines(chan))
        if not facts.starttls_offered:
            raise ProbeFailure("the server does not offer STARTTLS (STLS)")
    elif not answer.startswith("-ERR"):
        raise ProbeFailure(f"the server does not speak POP3 (it said '{shown(answer)}')")
    # Without CAPA (RFC 1939 servers) the only way to learn about STLS is to ask for it.
    chan.send("STLS")
    chan.waiting_for = "the answer to STLS"
    answer = chan.readline()
    facts.starttls_offered = answer.startswith("+OK")
    if not facts.starttls_offered:
        raise ProbeFailure(f"the server does not offer STARTTLS (STLS): {shown(answer)}")
    _ready_for_tls(chan)


# --- FTP --------------------------------------------------------------------------------------


def read_ftp_reply(reader: Reader) -> tuple[int, list[str]]:
    """RFC 959 reply: "220-" opens a multi-line reply whose middle lines may be anything; "220 " ends it."""
    first = reader.readline()
    match = _SMTP_LINE.fullmatch(first)
    if match is None:
        raise ProbeFailure(f"the server does not speak FTP (it said '{shown(first)}')")
    code, texts = match.group(1), [match.group(3)]
    if match.group(2) == "-":
        while len(texts) < MAX_LINES:
            line = reader.readline()
            texts.append(line)
            if line.startswith(f"{code} ") or line == code:
                break
        else:
            raise ProbeFailure("the server sent an endless FTP reply")
    return int(code), texts


def ftp_dialogue(chan: Channel, facts: Facts) -> None:
    chan.waiting_for = "the FTP greeting"
    code, texts = read_ftp_reply(chan)
    while code == 120:  # "service ready in n minutes": the real greeting follows
        code, texts = read_ftp_reply(chan)
    if code != 220:
        raise ProbeFailure(f"the server refused the session: {code} {shown(' '.join(texts))}")
    chan.send("AUTH TLS")
    chan.waiting_for = "the answer to AUTH TLS"
    code, texts = read_ftp_reply(chan)
    # FEAT could list AUTH TLS, but asking is one round trip and the only reliable answer.
    facts.starttls_offered = code == 234
    if not facts.starttls_offered:
        raise ProbeFailure(f"the server does not offer STARTTLS (AUTH TLS): {code} {shown(' '.join(texts))}")
    _ready_for_tls(chan)


# --- LDAP (just enough BER for the StartTLS extended operation, RFC 4511 4.14) -----------------


def ber_tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag byte, definite length (short or long form), content."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _ber_integer(value: int) -> bytes:
    # Minimal two's complement: one spare bit keeps a positive number from reading as negative.
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def ldap_starttls_request(message_id: int = 1) -> bytes:
    # LDAPMessage SEQUENCE { messageID INTEGER, [APPLICATION 23] { requestName [0] LDAPOID } }
    request = ber_tlv(0x77, ber_tlv(0x80, STARTTLS_OID.encode("ascii")))
    return ber_tlv(0x30, ber_tlv(0x02, _ber_integer(message_id)) + request)


def _length_bytes(first: int) -> int:
    """How many length bytes follow the first one (0 in the short form)."""
    if first < 0x80:
        return 0
    count = first & 0x7F
    if count == 0 or count > 4:  # 0 is the indefinite form, which LDAP forbids
        raise ProbeFailure("the server's LDAP answer is not valid BER")
    return count


def _length(first: int, extra: bytes) -> int:
    return first if first < 0x80 else int.from_bytes(extra, "big")


def read_ber_message(reader: Reader) -> bytes:
    """The content of one top-level SEQUENCE (an LDAPMessage) from the stream."""
    head = reader.read_exact(2)
    if head[0] != 0x30:
        raise ProbeFailure("the server does not speak LDAP (its answer is not an LDAP message)")
    length = _length(head[1], reader.read_exact(_length_bytes(head[1])))
    if length > MAX_BER:
        raise ProbeFailure("the server's LDAP answer is implausibly large")
    return reader.read_exact(length)


def _elements(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) elements laid end to end in ``data``."""
    elements: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ProbeFailure("the server's LDAP answer is truncated")
        tag, first = data[offset], data[offset + 1]
        start = offset + 2 + _length_bytes(first)
        end = start + _length(first, data[offset + 2 : start])
        if end > len(data):
            raise ProbeFailure("the server's LDAP answer is truncated")
        elements.append((tag, data[start:end]))
        offset = end
    return elements


@dataclass(frozen=True)
class LdapResponse:
    message_id: int
    result_code: int
    diagnostic: str
    response_name: str


def parse_ldap_extended_response(content: bytes) -> LdapResponse:
    """Decode the content of an LDAPMessage carrying an ExtendedResponse ([APPLICATION 24])."""
    parts = _elements(content)
    if len(parts) < 2 or parts[0][0] != 0x02 or parts[1][0] != 0x78:
        raise ProbeFailure("the server did not answer the StartTLS request with an LDAP extended response")
    fields = _elements(parts[1][1])
    if len(fields) < 3 or fields[0][0] != 0x0A:
        raise ProbeFailure("the server's LDAP extended response is malformed")
    name = next((value for tag, value in fields[3:] if tag == 0x8A), b"")  # responseName [10]
    return LdapResponse(
        message_id=int.from_bytes(parts[0][1], "big", signed=True),
        result_code=int.from_bytes(fields[0][1], "big", signed=True),
        diagnostic=fields[2][1].decode("utf-8", "replace"),
        response_name=name.decode("ascii", "replace"),
    )


def ldap_dialogue(chan: Channel, facts: Facts) -> None:
    chan.send(ldap_starttls_request(1))
    chan.waiting_for = "the answer to the LDAP StartTLS request"
    response = parse_ldap_extended_response(read_ber_message(chan))
    if response.message_id == 0:  # unsolicited notification, e.g. notice of disconnection
        raise ProbeFailure(f"the server ended the LDAP session: {shown(response.diagnostic) or 'no reason given'}")
    facts.starttls_offered = response.result_code == 0
    if not facts.starttls_offered:
        why = f" ({shown(response.diagnostic)})" if response.diagnostic else ""
        raise ProbeFailure(f"the server does not offer STARTTLS: LDAP result {response.result_code}{why}")
    _ready_for_tls(chan)
