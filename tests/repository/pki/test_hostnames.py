"""Tests for repository.pki.hostnames: hostname and IP address normalisation.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

import pytest

from repository.errors import CryptoError
from repository.pki.hostnames import is_ip_address, normalize_hostname


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
