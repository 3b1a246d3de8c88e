"""Hostname and IP address normalisation for certificate names.

Only the stdlib: no Django.
"""

from __future__ import annotations

import ipaddress
import re

from repository.errors import CryptoError

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]  # URL-style IPv6 literal
    if "%" in text:
        return None  # scoped IPv6 addresses cannot go into a certificate
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_ip_address(name: str) -> bool:
    return _parse_ip(name.strip()) is not None


def _ascii_label(label: str) -> str:
    # Per label so an invalid label is reported instead of silently mangled by the codec.
    return label if label.isascii() else label.encode("idna").decode("ascii")


def normalize_hostname(name: str, *, allow_wildcard: bool = True) -> str:
    """Canonical lowercase (punycode) hostname or IP address; CryptoError when invalid."""
    cleaned = name.strip()
    if not cleaned:
        raise CryptoError("The hostname is empty.")
    shown = cleaned if len(cleaned) <= 80 else cleaned[:77] + "..."
    error = CryptoError(f"'{shown}' is not a valid hostname.")
    ip = _parse_ip(cleaned)
    if ip is not None:
        return str(ip)
    host = cleaned.lower().removesuffix(".")
    wildcard = allow_wildcard and host.startswith("*.")
    try:
        labels = [_ascii_label(label) for label in host.removeprefix("*." if wildcard else "").split(".")]
    except UnicodeError:
        raise error from None
    # An all-numeric last label is never a real TLD; it is a mistyped IP address.
    if not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise error
    result = ".".join(["*", *labels] if wildcard else labels)
    if len(result) > 253:
        raise error
    return result
