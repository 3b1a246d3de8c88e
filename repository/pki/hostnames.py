"""Hostnames and IP addresses in certificates: normalising a name for a new certificate (IDNA, wildcards), and
whether a certificate covers a name (RFC 6125), as a client connecting to it would decide.

Only the stdlib and ``cryptography``: no Django.
"""

from __future__ import annotations

import ipaddress
import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from repository.errors import CryptoError
from repository.pki import safe

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(text: str) -> IPAddress | None:
    """An address a certificate can name, or None (see ``ip_literal`` for where a client connects)."""
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


# --- what a client connecting to a name checks -----------------------------------------------------------------


def ip_literal(name: str) -> IPAddress | None:
    """The address when ``name`` is an IP literal (brackets and a scope allowed: it is where a client connects),
    else None: a name to resolve, to send as SNI and to find among the DNS names."""
    try:
        return ipaddress.ip_address(name.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def ascii_hostname(name: str) -> str:
    """Lowercase A-label form, so "Bücher.example." and "xn--bcher-kva.example" compare equal.

    Lenient where ``normalize_hostname`` is strict: a name that is not a valid IDN comes back as given (lowercased),
    so it simply matches nothing.
    """
    labels = name.strip().lower().removesuffix(".").split(".")
    try:
        return ".".join(_ascii_label(label) for label in labels)
    except UnicodeError:
        return ".".join(labels)


def name_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 6.4: exact match, or "*" as the whole left-most label standing for exactly one label."""
    pattern_labels, labels = ascii_hostname(pattern).split("."), ascii_hostname(hostname).split(".")
    if pattern_labels == labels:
        return "*" not in pattern
    # No partial wildcards ("w*.example.com") and none directly under a TLD ("*.com").
    if pattern_labels[0] != "*" or len(pattern_labels) < 3 or "*" in ".".join(pattern_labels[1:]):
        return False
    return len(labels) == len(pattern_labels) and bool(labels[0]) and labels[1:] == pattern_labels[1:]


def covers_name(cert: x509.Certificate, server_name: str) -> bool:
    """Does the certificate name ``server_name``? SANs decide; the CN only when there is no SAN."""
    try:
        sans = safe.extension(cert, x509.SubjectAlternativeName)
        subject = safe.subject(cert) if sans is None else None
    except CryptoError:
        return False  # unreadable names: none can be trusted to be covered
    address = ip_literal(server_name)
    if sans is not None:
        if address is not None:
            return address in sans.get_values_for_type(x509.IPAddress)
        return any(name_matches(dns, server_name) for dns in sans.get_values_for_type(x509.DNSName))
    names = [str(attr.value) for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] if subject else []
    if address is not None:
        return any(ip_literal(cn) == address for cn in names)
    return any(name_matches(cn, server_name) for cn in names)
