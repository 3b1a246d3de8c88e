"""The one table of the secure listeners a mail server has (pure data, no Django).

Everything the panel knows about a protocol is a row here: its label, its default port, how TLS starts (the
plaintext STARTTLS dialogue the probe speaks first, or none for implicit TLS) and the daemon that usually
serves it. Listener choices, the `services` command, the first-start listeners, the probes and a new listener's
default daemon all read this table; nothing else lists protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.probes.starttls import (
    Channel,
    Facts,
    ftp_dialogue,
    imap_dialogue,
    ldap_dialogue,
    pop3_dialogue,
    smtp_dialogue,
)

Dialogue = Callable[[Channel, Facts], None]


@dataclass(frozen=True)
class Protocol:
    code: str
    label: str
    port: int  # the default port
    starttls: Dialogue | None  # spoken in plaintext up to the handshake; None: TLS from the first byte (implicit)
    daemon: str  # the daemon that usually serves it: a code of services.daemons.ADAPTERS

    @property
    def implicit(self) -> bool:
        return self.starttls is None


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("smtp", "SMTP", 25, smtp_dialogue, "postfix"),
    Protocol("submission", "Submission", 587, smtp_dialogue, "postfix"),
    Protocol("smtps", "SMTPS", 465, None, "postfix"),
    Protocol("imap", "IMAP", 143, imap_dialogue, "dovecot"),
    Protocol("imaps", "IMAPS", 993, None, "dovecot"),
    Protocol("pop3", "POP3", 110, pop3_dialogue, "dovecot"),
    Protocol("pop3s", "POP3S", 995, None, "dovecot"),
    Protocol("https", "Webmail HTTPS", 443, None, "nginx"),
    Protocol("ftp", "FTP", 21, ftp_dialogue, "vsftpd"),
    Protocol("ftps", "FTPS", 990, None, "vsftpd"),
    Protocol("ldap", "LDAP", 389, ldap_dialogue, "slapd"),
    Protocol("ldaps", "LDAPS", 636, None, "slapd"),
)

BY_CODE: dict[str, Protocol] = {protocol.code: protocol for protocol in PROTOCOLS}
CHOICES: list[tuple[str, str]] = [(p.code, f"{p.label} ({p.port})") for p in PROTOCOLS]
