"""The one table of the secure listeners a mail server has (pure data, no Django).

Everything the panel knows about a protocol is a row here: its label, its default port, how TLS starts (the
plaintext STARTTLS dialogue the probe speaks first, or none for implicit TLS), the daemon that usually
serves it and the group the services page lists it under (the mail server's "secure ports": Mail, Webmail, FTP,
LDAP). Listener choices, the `services` command, the first-start listeners, the probes and a new listener's
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
    group: str  # one of GROUPS: where the services page lists it

    @property
    def implicit(self) -> bool:
        return self.starttls is None

    @property
    def tls_mode(self) -> str:
        """How a client starts TLS on it, in the words the admin reads on the services page."""
        return "implicit TLS" if self.implicit else "STARTTLS"


GROUPS: tuple[str, ...] = ("Mail", "Webmail", "FTP", "LDAP")


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("smtp", "SMTP", 25, smtp_dialogue, "postfix", "Mail"),
    Protocol("submission", "Submission", 587, smtp_dialogue, "postfix", "Mail"),
    Protocol("smtps", "SMTPS", 465, None, "postfix", "Mail"),
    Protocol("imap", "IMAP", 143, imap_dialogue, "dovecot", "Mail"),
    Protocol("imaps", "IMAPS", 993, None, "dovecot", "Mail"),
    Protocol("pop3", "POP3", 110, pop3_dialogue, "dovecot", "Mail"),
    Protocol("pop3s", "POP3S", 995, None, "dovecot", "Mail"),
    Protocol("https", "Webmail HTTPS", 443, None, "nginx", "Webmail"),
    Protocol("ftp", "FTP", 21, ftp_dialogue, "vsftpd", "FTP"),
    Protocol("ftps", "FTPS", 990, None, "vsftpd", "FTP"),
    Protocol("ldap", "LDAP", 389, ldap_dialogue, "slapd", "LDAP"),
    Protocol("ldaps", "LDAPS", 636, None, "slapd", "LDAP"),
)

BY_CODE: dict[str, Protocol] = {protocol.code: protocol for protocol in PROTOCOLS}
CHOICES: list[tuple[str, str]] = [(p.code, f"{p.label} ({p.port})") for p in PROTOCOLS]
