"""What an admin types for a DNS provider, checked and made canonical: zone and record names, ``HOST[:PORT]``, the
TSIG key's name, algorithm and base64 secret. Pure (no Django); every failure is a DnsError naming its field.

Names are stored lowercase, as ASCII (IDNA punycode), without the trailing dot. Record names may hold underscores
(``_acme-challenge``); host names of servers may not.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass

from repository.errors import DnsError

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha1")
DEFAULT_PORT = 53
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def shown(text: str) -> str:
    """The input quoted back in a message: short, printable (a hostile string is neither)."""
    printable = "".join(char if char.isprintable() else "?" for char in text)
    return printable if len(printable) <= 60 else printable[:57] + "..."


def _labels(text: str, *, what: str, field: str, pattern: re.Pattern[str]) -> list[str]:
    cleaned = text.strip().lower().removesuffix(".")
    error = DnsError(f"'{shown(text.strip())}' is not a valid {what}.", field=field)
    if not cleaned or len(cleaned) > 253:
        raise error
    try:
        labels = [label if label.isascii() else label.encode("idna").decode("ascii") for label in cleaned.split(".")]
    except UnicodeError:
        raise error from None
    if not all(pattern.fullmatch(label) for label in labels) or len(".".join(labels)) > 253:
        raise error
    return labels


def dns_name(text: str, *, what: str = "DNS name", field: str = "") -> str:
    """A record or zone name: lowercase ASCII, no trailing dot; DnsError when it is not one."""
    labels = _labels(text, what=what, field=field, pattern=_LABEL)
    if labels[-1].isdigit():  # an all-numeric last label is a mistyped address, never a zone
        raise DnsError(f"'{shown(text.strip())}' is not a valid {what}.", field=field)
    return ".".join(labels)


def zone_name(text: str) -> str:
    return dns_name(text, what="zone name", field="zone")


def tsig_key_name(text: str) -> str:
    """TSIG key names are DNS names too (BIND's `key "name"`); the panel keeps them as typed, lowercased."""
    return dns_name(text, what="TSIG key name", field="tsig_name")


def tsig_algorithm(text: str) -> str:
    algorithm = text.strip().lower().removesuffix(".")
    if algorithm not in TSIG_ALGORITHMS:
        raise DnsError(
            f"'{shown(text)}' is not a TSIG algorithm the panel uses (one of {', '.join(TSIG_ALGORITHMS)}).",
            field="tsig_algorithm",
        )
    return algorithm


def tsig_secret(text: str) -> bytes:
    """The secret BIND's key statement holds (``tsig-keygen`` prints it), as bytes; DnsError unless base64."""
    cleaned = "".join(text.split())  # a secret pasted across lines or with a newline from a file
    try:
        secret = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if not secret:
        raise DnsError(
            "The TSIG secret must be base64, as in the key file (e.g. `tsig-keygen -a hmac-sha256 NAME` prints it).",
            field="tsig_secret",
        )
    return secret


@dataclass(frozen=True)
class ServerAddress:
    host: str  # a host name or an IP address (IPv6 without brackets)
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORT else f"{host}:{self.port}"


def server_address(text: str, *, port: int | None = None) -> ServerAddress:
    """``HOST``, ``HOST:PORT``, ``IPv4:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address; ``port`` when given wins."""
    cleaned = text.strip()
    error = DnsError(
        f"'{shown(cleaned)}' is not a DNS server: give a host name or an IP address, with :PORT when it is not 53.",
        field="server",
    )
    host, given = cleaned, ""
    if cleaned.startswith("["):
        host, _, rest = cleaned[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise error
        given = rest[1:]
    elif cleaned.count(":") == 1:
        host, given = cleaned.split(":")
    number = _port(given, error) if given else DEFAULT_PORT
    return ServerAddress(_server_host(host, error), port if port is not None else number)


def _port(text: str, error: DnsError) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise error
    return int(text)


def _server_host(text: str, error: DnsError) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        return ".".join(_labels(text, what="DNS server", field="server", pattern=_HOST_LABEL))
    except DnsError:
        raise error from None
