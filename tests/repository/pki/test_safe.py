"""Tests for repository.pki.safe: every lazy read of a hostile certificate ends in a CryptoError with an admin
sentence, and the raw names still read (so chains can be put in order around an unreadable name).

The hostile certificates are made at test time by patching DER (tests/support/hostile.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from repository.errors import CryptoError
from repository.pki import safe
from repository.pki.chain import order_chain, verify_chain
from repository.pki.describe import certificate_fields, describe_certificate, require_readable
from repository.pki.hostnames import covers_name
from tests.support import hostile
from tests.support.factories import CA, ec_key, name


@pytest.fixture(scope="module")
def certs(ca: CA) -> dict[str, tuple[x509.Certificate, str]]:
    return hostile.hostile_certificates(ca)


def test_the_raw_accessors_really_raise_on_the_hostile_certificates(certs: dict) -> None:
    """The premise: each of these makes cryptography raise something other than a CryptoError."""
    with pytest.raises(UnsupportedAlgorithm):
        certs["unsupported key"][0].public_key()
    for label in ("x400Address SAN", "ediPartyName SAN"):
        with pytest.raises(x509.UnsupportedGeneralNameType):
            certs[label][0].extensions
    with pytest.raises(ValueError):
        certs["malformed issuer"][0].issuer


def test_an_unsupported_key_type_is_named_with_its_oid(certs: dict) -> None:
    cert, _ = certs["unsupported key"]
    with pytest.raises(CryptoError) as caught:
        safe.public_key(cert)
    assert str(caught.value) == (
        "This certificate uses a key type the panel does not support: "
        f"GOST R 34.10-2012 (256 bits) ({hostile.GOST_2012_256})."
    )


@pytest.mark.parametrize("label", ["x400Address SAN", "ediPartyName SAN"])
def test_unreadable_alternative_names_are_named(certs: dict, label: str) -> None:
    with pytest.raises(CryptoError, match=r"^This certificate has a name of a type the panel cannot read"):
        safe.extensions(certs[label][0])
    with pytest.raises(CryptoError):
        safe.extension(certs[label][0], x509.SubjectAlternativeName)


def test_a_malformed_issuer_is_named_and_its_raw_bytes_still_read(certs: dict, ca: CA) -> None:
    cert, _ = certs["malformed issuer"]
    with pytest.raises(CryptoError, match=r"^This certificate's issuer name is malformed and cannot be read\.$"):
        safe.issuer_text(cert)
    assert b"\xff\xfe\xfd\xfc" in safe.issuer_der(cert)
    assert safe.subject_text(cert) == "CN=broken-issuer.example.com"


def test_raw_names_are_what_chains_match_on(ca: CA) -> None:
    leaf = ca.issue(ec_key().public_key(), ["mail.example.com"])
    assert safe.issuer_der(leaf) == safe.subject_der(ca.intermediate)
    assert safe.subject_der(leaf) != safe.subject_der(ca.intermediate)


def test_every_hostile_certificate_gets_its_sentence_from_describe(certs: dict) -> None:
    for label, (cert, message) in certs.items():
        with pytest.raises(CryptoError) as caught:
            describe_certificate(cert)
        assert message in str(caught.value), label


def test_fields_show_what_they_can_and_say_why_a_row_cannot(certs: dict) -> None:
    for label, (cert, message) in certs.items():
        rows = dict(certificate_fields(cert))
        assert len(rows) == 14, label
        assert any(message in value for value in rows.values()), label
        assert rows["SHA-256 fingerprint"] and "cannot" not in rows["SHA-256 fingerprint"]
    rows = dict(certificate_fields(certs["unsupported key"][0]))
    assert rows["Names (SAN)"] == "gost.example.com" and rows["Key"].startswith("cannot be shown: This certificate")


def test_require_readable_names_the_certificate_of_an_upload(certs: dict, ca: CA) -> None:
    cert, _message = certs["unsupported key"]
    with pytest.raises(CryptoError) as caught:
        require_readable([ca.intermediate, cert])
    assert str(caught.value).startswith("Certificate 2 of 2 (gost.example.com): This certificate uses a key type")
    assert require_readable([ca.intermediate]) == [ca.intermediate]


def test_chains_are_ordered_and_verified_around_unreadable_parts(certs: dict, ca: CA) -> None:
    for label in ("unsupported key", "x400Address SAN", "ediPartyName SAN"):
        leaf, chain = order_chain([ca.root, certs[label][0], ca.intermediate])
        assert (leaf, chain) == (certs[label][0], [ca.intermediate, ca.root]), label
        assert verify_chain(leaf, chain) == [], label
    broken = certs["malformed issuer"][0]
    assert order_chain([broken, ca.intermediate]) == (broken, [])
    assert verify_chain(broken, []) == ["The intermediate certificate for issuer '(unreadable name)' is missing."]


def test_an_unsupported_issuer_key_is_reported_not_raised(certs: dict, ca: CA) -> None:
    gost = certs["unsupported key"][0]
    key = ec_key()
    now = datetime.now(UTC)
    under_gost = (
        x509.CertificateBuilder()
        .subject_name(name("under-gost.example.com"))
        .issuer_name(gost.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert order_chain([under_gost, gost]) == (under_gost, [])  # its signature cannot be checked: not a link
    [problem] = verify_chain(under_gost, [gost])
    assert problem == (
        "The signature of under-gost.example.com by gost.example.com cannot be checked: This certificate uses a key "
        f"type the panel does not support: GOST R 34.10-2012 (256 bits) ({hostile.GOST_2012_256})."
    )
    assert verify_chain(ca.issue(key.public_key(), ["x.example.com"]), [gost]) == [
        "x.example.com is not signed by gost.example.com."
    ]


def test_covers_name_is_false_for_unreadable_names(certs: dict) -> None:
    assert not covers_name(certs["x400Address SAN"][0], "x400.example.com")
    assert covers_name(certs["malformed issuer"][0], "broken-issuer.example.com")
