"""services.probes.starttls: the readers and BER on their own (pure, over a ``recv`` callable), then each dialogue
against a small server: what it learns before TLS, and every way a server can refuse or cheat.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.probes import starttls
from services.probes.run import probe
from services.probes.starttls import ProbeFailure, Reader
from tests.support.probe_servers import (
    HOST,
    NAME,
    STARTTLS_REQUEST,
    Conn,
    MiniServer,
    Script,
    ftp,
    imap,
    ldap,
    pop3,
    smtp,
)

# LDAPMessage { messageID 1, ExtendedResponse { resultCode success, matchedDN "", diagnosticMessage "" } }
STARTTLS_OK = bytes.fromhex("300c02010178070a010004000400")

# --- readers and BER --------------------------------------------------------------------------


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


# --- dialogues against a server ---------------------------------------------------------------


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


def test_server_that_closes_before_the_greeting(serve: Callable[..., MiniServer]) -> None:
    result = probe(host=HOST, port=serve(lambda c: None).port, protocol="submission", server_name=NAME)
    assert result.error == "the server closed the connection while we waited for the SMTP greeting"


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
