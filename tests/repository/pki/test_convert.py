"""Tests for repository.pki.convert: writing PEM/DER/PKCS#12 and converting.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from repository.errors import CryptoError
from repository.pki.convert import (
    certificate_to_der,
    certificate_to_pem,
    certificates_to_pem,
    convert,
    private_key_to_pem,
    private_key_to_traditional_pem,
    to_pkcs12,
)
from repository.pki.match import public_key_matches
from repository.pki.parse import load_private_key, looks_like_pkcs12, parse_certificates, parse_pkcs12
from tests.repository.pki.builders import Pki, der, needs_openssl, pem, run_openssl


def test_private_key_to_pem_with_empty_passphrase_is_unencrypted(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    assert b"BEGIN PRIVATE KEY" in private_key_to_pem(ec_key, b"")


def test_traditional_pem_uses_openssl_headers(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate()
    assert b"BEGIN RSA PRIVATE KEY" in private_key_to_traditional_pem(rsa_key)
    assert b"BEGIN EC PRIVATE KEY" in private_key_to_traditional_pem(ec_key)
    assert b"BEGIN PRIVATE KEY" in private_key_to_traditional_pem(ed_key)
    for key in (rsa_key, ec_key, ed_key):
        loaded = load_private_key(private_key_to_traditional_pem(key))
        assert public_key_matches(loaded, key)


def test_pkcs12_round_trip_with_password(pki: Pki) -> None:
    data = to_pkcs12(
        name="mail",
        key=pki.leaf_key,
        cert=pki.leaf,
        chain=[pki.intermediate, pki.root],
        password=b"s3cret",
    )
    assert looks_like_pkcs12(data)
    bundle = parse_pkcs12(data, b"s3cret")
    assert bundle.certificates == [pki.leaf, pki.intermediate, pki.root]
    assert bundle.key is not None
    assert public_key_matches(bundle.key, pki.leaf)


def test_to_pkcs12_requires_password_and_matching_key(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="Enter a password"):
        to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"")
    with pytest.raises(CryptoError, match="does not match"):
        to_pkcs12(name="m", key=pki.root_key, cert=pki.leaf, chain=[], password=b"pw")


@needs_openssl
def test_openssl_reads_our_pkcs12(pki: Pki, tmp_path: Path) -> None:
    data = to_pkcs12(
        name="mail.example.com",
        key=pki.leaf_key,
        cert=pki.leaf,
        chain=[pki.intermediate],
        password=b"open sesame",
    )
    (tmp_path / "out.p12").write_bytes(data)
    result = run_openssl(
        "pkcs12", "-info", "-in", "out.p12", "-passin", "pass:open sesame", "-nodes",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.stdout.count("BEGIN CERTIFICATE") == 2
    assert "BEGIN PRIVATE KEY" in result.stdout
    assert "AES-256-CBC" in result.stderr
    assert "friendlyName: mail.example.com" in result.stdout


def test_certificates_to_pem_round_trips(pki: Pki) -> None:
    data = certificates_to_pem([pki.leaf, pki.intermediate])
    assert data.count(b"-----END CERTIFICATE-----\n") == 2
    assert data.endswith(b"\n")
    assert parse_certificates(data) == [pki.leaf, pki.intermediate]
    assert certificate_to_pem(pki.leaf) == pem(pki.leaf)
    assert parse_certificates(certificate_to_der(pki.leaf)) == [pki.leaf]


def test_convert_der_and_pkcs7_to_pem(pki: Pki) -> None:
    assert convert(der(pki.leaf), to="pem") == pem(pki.leaf)
    p7 = pkcs7.serialize_certificates([pki.leaf, pki.intermediate], serialization.Encoding.DER)
    converted = parse_certificates(convert(p7, to="pem"))
    assert set(converted) == {pki.leaf, pki.intermediate}


def test_convert_pkcs12_to_pem_includes_unencrypted_key(pki: Pki) -> None:
    p12 = to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[pki.intermediate], password=b"pw")
    out = convert(p12, to="pem", password=b"pw")
    assert out.startswith(pem(pki.leaf) + pem(pki.intermediate))
    assert b"-----BEGIN " + b"PRIVATE KEY-----" in out
    assert public_key_matches(load_private_key(out), pki.leaf)


def test_convert_pem_to_der_takes_first_certificate(pki: Pki) -> None:
    data = pem(pki.leaf) + pem(pki.intermediate)
    assert convert(data, to="der") == der(pki.leaf)


def test_convert_pem_bundle_to_pkcs12(pki: Pki) -> None:
    data = pem(pki.intermediate) + private_key_to_pem(pki.leaf_key, b"kp") + pem(pki.leaf)
    out = convert(data, to="pkcs12", password=b"pw", passphrase=b"kp")
    bundle = parse_pkcs12(out, b"pw")
    assert bundle.certificates == [pki.leaf, pki.intermediate]


def test_convert_to_pkcs12_explains_missing_parts(pki: Pki) -> None:
    with_key = pem(pki.leaf) + private_key_to_pem(pki.leaf_key)
    with pytest.raises(CryptoError, match="Enter a password"):
        convert(with_key, to="pkcs12")
    with pytest.raises(CryptoError, match="needs the private key"):
        convert(pem(pki.leaf), to="pkcs12", password=b"pw")
    with pytest.raises(CryptoError, match="Unknown target format 'jks'"):
        convert(pem(pki.leaf), to="jks")
    with pytest.raises(CryptoError, match="Wrong password for the PKCS#12"):
        p12 = to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"pw")
        convert(p12, to="pem", password=b"nope")
