"""The panel's own name when CERTPANEL_HOSTNAME is not set: what the mail host calls itself.

A mail host names itself in /etc/mailname (Debian's MTAs read it) and in `hostname -f`; Python's
`socket.getfqdn()` reverse-resolves and can answer `localhost` on a host whose `hostname -f` is `vm`, which once
put all twelve first-start listeners on a `localhost` certificate. So the first non-empty name that is not a
loopback name wins, in that order, and getfqdn() is only the last resort. No Django imports: settings.py uses it,
and the readers are passed in so the rules are tested without touching /etc or DNS.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAILNAME = Path("/etc/mailname")
HOSTNAME_TIMEOUT = 5.0  # `hostname -f` asks the resolver; a broken DNS must not hang every start
SETTING = "CERTPANEL_HOSTNAME"
LOOPBACK_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6", "ip6-localhost", "ip6-loopback"}
)

Reader = Callable[[], str]


@dataclass(frozen=True)
class HostnameChoice:
    name: str
    source: str  # CERTPANEL_HOSTNAME, /etc/mailname, `hostname -f` or socket.getfqdn()


def _clean(text: str) -> str:
    """First line, no surrounding blanks, no trailing root dot, lower case ('Mail.Example.COM.' → ...)."""
    lines = text.strip().splitlines()
    return lines[0].strip().rstrip(".").lower() if lines else ""


def is_usable(name: str) -> bool:
    """A name a certificate can be made for that is not loopback ('localhost', 'localhost.example' included)."""
    if not name or any(c.isspace() for c in name) or name in LOOPBACK_NAMES:
        return False
    return not name.startswith("localhost.")


def _read(reader: Reader) -> str:
    try:
        return _clean(reader())
    except (OSError, UnicodeDecodeError, subprocess.SubprocessError):
        return ""


def hostname_choose(*, configured: str, read_mailname: Reader, hostname_f: Reader, getfqdn: Reader) -> HostnameChoice:
    """CERTPANEL_HOSTNAME as given; else /etc/mailname, else `hostname -f`, else getfqdn() whatever it says."""
    if configured.strip():
        return HostnameChoice(configured.strip(), SETTING)
    for source, reader in (("/etc/mailname", read_mailname), ("`hostname -f`", hostname_f)):
        name = _read(reader)
        if is_usable(name):
            return HostnameChoice(name, source)
    return HostnameChoice(_read(getfqdn) or "localhost", "socket.getfqdn()")


def read_mailname() -> str:
    return MAILNAME.read_text(encoding="utf-8")


def run_hostname_f() -> str:
    command = ["hostname", "-f"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=HOSTNAME_TIMEOUT, check=True)
    return done.stdout


def hostname_of_this_host(configured: str) -> HostnameChoice:
    return hostname_choose(
        configured=configured, read_mailname=read_mailname, hostname_f=run_hostname_f, getfqdn=socket.getfqdn
    )


def first_start_note(choice: HostnameChoice) -> str:
    """What the first-start output says about the name: which one, where from, how to choose another."""
    if choice.source == SETTING:
        return f"The name {choice.name} comes from {SETTING}."
    return (
        f"The name {choice.name} comes from {choice.source} ({SETTING} is not set). To use another name, set "
        f"{SETTING}=mail.example.com before the first start, or later create a certificate for the right name and "
        "assign it to the services."
    )


# Always answered: the container's health check and `make run`'s http://localhost:8000/ come by these names, and a
# browser only sends them for a panel on its own machine (a DNS-rebinding page sends its own name).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def allowed_hosts(*, configured: list[str], hostname: str, debug: bool) -> list[str]:
    """The Host names the panel answers to (Django's ALLOWED_HOSTS): CERTPANEL_ALLOWED_HOSTS, else the panel's own
    name, plus the loopback names. '*' would answer any name (a DNS-rebinding page, poisoned absolute links): outside
    DEBUG it stops the start with a message. ACME HTTP-01 challenges are answered for any name regardless
    (certpanel/middleware.py), since the CA asks with the name being validated."""
    if "*" in configured and not debug:
        raise SystemExit(
            "error: CERTPANEL_ALLOWED_HOSTS=* would let the panel answer to any host name. List the names admins "
            "reach it by (CERTPANEL_ALLOWED_HOSTS=panel.example.com), or leave it unset to use "
            f"CERTPANEL_HOSTNAME ({hostname})."
        )
    return list(dict.fromkeys([*(configured or [hostname]), *LOOPBACK_HOSTS]))
