"""The secure listeners a mail server has, with their default ports and how TLS starts (pure data)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    code: str
    label: str
    port: int
    tls: str  # "starttls" (upgrade in the protocol) or "implicit" (TLS from the first byte)


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("smtp", "SMTP", 25, "starttls"),
    Protocol("submission", "Submission", 587, "starttls"),
    Protocol("smtps", "SMTPS", 465, "implicit"),
    Protocol("imap", "IMAP", 143, "starttls"),
    Protocol("imaps", "IMAPS", 993, "implicit"),
    Protocol("pop3", "POP3", 110, "starttls"),
    Protocol("pop3s", "POP3S", 995, "implicit"),
    Protocol("https", "Webmail HTTPS", 443, "implicit"),
    Protocol("ftp", "FTP", 21, "starttls"),
    Protocol("ftps", "FTPS", 990, "implicit"),
    Protocol("ldap", "LDAP", 389, "starttls"),
    Protocol("ldaps", "LDAPS", 636, "implicit"),
)

BY_CODE: dict[str, Protocol] = {protocol.code: protocol for protocol in PROTOCOLS}
CHOICES: list[tuple[str, str]] = [(p.code, f"{p.label} ({p.port})") for p in PROTOCOLS]
