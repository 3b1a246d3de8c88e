"""Tests for repository.pki.hostnames: hostname and IP address normalisation, and whether a certificate covers a
name (the probes' hostname check).

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from repository.errors import CryptoError
from repository.pki.hostnames import (
    ascii_hostname,
    covers_name,
    ip_literal,
    is_ip_address,
    name_matches,
    normalize_hostname,
)
from tests.support.factories import Key, make_ca, name
from tests.support.probe_servers import self_signed

NAME = "mail.example.com"
NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mail.Example.COM", "mail.example.com"),
        ("  mail.example.com.  ", "mail.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("*.Example.com", "*.example.com"),
        ("localhost", "localhost"),
        ("a-b.c0.example", "a-b.c0.example"),
        ("10.0.0.1", "10.0.0.1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[::1]", "::1"),
    ],
)
def test_normalize_hostname_accepts_and_canonicalises(raw: str, expected: str) -> None:
    assert normalize_hostname(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "exa mple.com",
        "-bad.com",
        "bad-.com",
        "a..b",
        "a" * 64 + ".com",
        ".".join(["abcdefghi"] * 26),  # 259 characters
        "*.*.x",
        "foo*.x",
        "*",
        "under_score.example",
        "999.1.1.1",
        "fe80::1%eth0",
        "exa\tmple.com",
        "",
        "   ",
    ],
)
def test_normalize_hostname_rejects_invalid_names(raw: str) -> None:
    with pytest.raises(CryptoError):
        normalize_hostname(raw)


def test_normalize_hostname_message_quotes_the_name() -> None:
    with pytest.raises(CryptoError, match=r"^'exa mple\.com' is not a valid hostname\.$"):
        normalize_hostname("exa mple.com")


def test_normalize_hostname_message_truncates_long_input() -> None:
    with pytest.raises(CryptoError) as caught:
        normalize_hostname("x y" * 100)
    quoted = str(caught.value).split("'")[1]
    assert len(quoted) == 80
    assert quoted.endswith("...")


def test_normalize_hostname_rejects_wildcard_when_not_allowed() -> None:
    with pytest.raises(CryptoError, match="not a valid hostname"):
        normalize_hostname("*.example.com", allow_wildcard=False)


def test_is_ip_address() -> None:
    assert is_ip_address("192.0.2.1")
    assert is_ip_address(" 2001:db8::1 ")
    assert not is_ip_address("example.com")
    assert not is_ip_address("999.1.1.1")


# --- what a client connecting to a name checks -----------------------------------------------------------------


def with_ips(key: Key, ips: list[str]) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(name("ip"))
        .issuer_name(name("ip"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def served_leaf(ec_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """What a mail server serves: CA-issued, for NAME and a wildcard."""
    return make_ca("Probe").issue(ec_key.public_key(), [NAME, "*.example.net"])


@pytest.mark.parametrize(
    ("pattern", "hostname", "expected"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("MAIL.Example.COM", "mail.example.com.", True),
        ("mail.example.com", "imap.example.com", False),
        ("*.example.com", "mail.example.com", True),
        ("*.example.com", "a.b.example.com", False),  # one label only
        ("*.example.com", "example.com", False),
        ("*.example.com", ".example.com", False),
        ("m*.example.com", "mail.example.com", False),  # no partial wildcards
        ("mail.*.com", "mail.example.com", False),
        ("*.com", "example.com", False),  # never directly under a TLD
        ("*", "localhost", False),
        ("xn--bcher-kva.example", "bücher.example", True),  # IDN: U-label name vs A-label SAN
        ("bücher.example", "xn--bcher-kva.example", True),
        ("*.xn--bcher-kva.example", "mail.bücher.example", True),
        ("*.example.com", "xn--mail-xxa.example.com", True),
    ],
)
def test_name_matches(pattern: str, hostname: str, expected: bool) -> None:
    assert name_matches(pattern, hostname) is expected


def test_covers_name_uses_sans_and_ignores_cn_when_sans_exist(
    served_leaf: x509.Certificate, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    assert covers_name(served_leaf, NAME)
    assert covers_name(served_leaf, "smtp.example.net")
    assert not covers_name(served_leaf, "example.net")
    cert = self_signed(ec_key, ["a.example.com"], cn="b.example.com")
    assert not covers_name(cert, "b.example.com")  # RFC 6125: CN only counts without SANs


def test_covers_name_falls_back_to_cn_without_san(ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = self_signed(ec_key, [NAME], san=False)
    assert covers_name(cert, NAME)
    assert not covers_name(cert, "imap.example.com")


def test_covers_ip_addresses_only_through_ip_sans(ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = with_ips(ec_key, ["127.0.0.1", "::1"])
    assert covers_name(cert, "127.0.0.1")
    assert covers_name(cert, "::1")
    assert not covers_name(cert, "127.0.0.2")
    assert not covers_name(self_signed(ec_key, ["127.0.0.1"]), "127.0.0.1")  # a DNS SAN is not an IP SAN


def test_ascii_hostname_is_the_lowercase_a_label_form_and_lenient() -> None:
    assert ascii_hostname(" Bücher.Example. ") == "xn--bcher-kva.example"
    assert ascii_hostname("Mail.Example.COM") == "mail.example.com"
    too_long = "Ü" * 70 + ".Example"  # not a valid IDN: compared as given (lowercased), never an error
    assert ascii_hostname(too_long) == too_long.lower()


def test_ip_literal_is_where_a_client_connects() -> None:
    assert ip_literal(" 127.0.0.1 ") == ipaddress.ip_address("127.0.0.1")
    assert ip_literal("[::1]") == ipaddress.ip_address("::1")
    assert ip_literal("mail.example.com") is None
    assert ip_literal("999.1.1.1") is None
