"""The four tools called directly, without the page: what each says about the data it is given."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from repository.errors import CryptoError
from repository.toolbox import tools
from tests.support.factories import CA, ec_key, key_pem, name, pem


def _csr(key: object) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(name("req.example.com"))
    return builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]


def test_decode_describes_every_certificate_of_a_bundle_and_its_key(ca: CA) -> None:
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["mail.example.com"])
    sections = tools.decode(pem(leaf, ca.intermediate) + key_pem(key))
    assert [s.title for s in sections] == ["Certificate 1", "Certificate 2", "Private key"]
    assert ("Names (SAN)", "mail.example.com") in sections[0].fields
    assert ("Key", "ECDSA P-256") in sections[2].fields


def test_decode_recognises_a_der_csr_without_pem_markers() -> None:
    der_csr = _csr(ec_key()).public_bytes(serialization.Encoding.DER)
    (section,) = tools.decode(der_csr)
    assert section.title == "Certificate signing request"
    assert ("Subject", "CN=req.example.com") in section.fields and ("Signature", "valid") in section.fields


def test_decode_of_garbage_raises_the_certificate_error() -> None:
    with pytest.raises(CryptoError):
        tools.decode(b"not a certificate")


def test_key_matches_a_csr_and_says_which_it_compared() -> None:
    key = ec_key()
    csr_pem = _csr(key).public_bytes(serialization.Encoding.PEM)
    assert tools.key_matches(key_data=key_pem(key), other_data=csr_pem) == (True, "The private key matches the CSR.")
    ok, message = tools.key_matches(key_data=key_pem(ec_key()), other_data=csr_pem)
    assert not ok and message == "The private key does NOT match the CSR: they are not a pair."


def test_key_matches_opens_a_protected_key_with_its_passphrase(ca: CA) -> None:
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["mail.example.com"])
    ok, _ = tools.key_matches(key_data=key_pem(key, b"secret"), other_data=pem(leaf), passphrase=b"secret")
    assert ok


def test_verify_numbers_the_path_leaf_first(ca: CA) -> None:
    leaf = ca.issue(ec_key().public_key(), ["mail.example.com"])
    sections, problems = tools.verify(pem(ca.root, leaf, ca.intermediate))
    assert [s.title for s in sections] == [
        "1. CN=mail.example.com",
        "2. CN=Test Intermediate CA",
        "3. CN=Test Root CA",
    ]
    assert problems == []


def test_convert_refuses_an_unknown_target(ca: CA) -> None:
    with pytest.raises(CryptoError, match="Unknown target format 'jks'"):
        tools.convert(pem(ca.root), to="jks")
