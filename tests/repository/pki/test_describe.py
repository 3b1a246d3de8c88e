"""Tests for repository.pki.describe: describing certificates, CSRs and keys.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from repository.pki.describe import (
    certificate_fields,
    describe_certificate,
    describe_private_key,
    fingerprint_sha256,
)
from repository.pki.generate import create_self_signed
from tests.repository.pki.builders import Pki, issue, x509_name


def test_describe_private_key_has_no_key_material(rsa_key: rsa.RSAPrivateKey) -> None:
    info = describe_private_key(rsa_key)
    spki = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    assert info == {"key_type": "rsa2048", "public_key_sha256": digest.finalize().hex()}


def test_describe_certificate_fields(pki: Pki) -> None:
    info = describe_certificate(pki.leaf)
    assert info.common_name == "mail.example.com"
    assert info.sans == ["mail.example.com", "smtp.example.com"]
    assert info.subject == "CN=mail.example.com,O=Test PKI"
    assert info.issuer == "CN=Test Root Intermediate,O=Test PKI"
    assert info.issuer_common_name == "Test Root Intermediate"
    assert info.serial == format(pki.leaf.serial_number, "x")
    assert info.not_before == pki.leaf.not_valid_before_utc
    assert info.not_after.tzinfo is not None
    assert info.fingerprint_sha256 == pki.leaf.fingerprint(hashes.SHA256()).hex()
    assert info.fingerprint_sha256 == fingerprint_sha256(pki.leaf)
    assert info.fingerprint_sha1 == pki.leaf.fingerprint(hashes.SHA1()).hex()
    assert info.key_type == "rsa2048"
    assert info.signature_algorithm == "ecdsa-with-SHA256"
    assert info.key_usage == []
    assert info.extended_key_usage == ["serverAuth", "clientAuth"]
    assert not info.is_ca and not info.self_signed
    assert info.has_server_auth


def test_describe_certificate_of_root(pki: Pki) -> None:
    info = describe_certificate(pki.root)
    assert info.is_ca and info.self_signed
    assert info.key_type == "ec256"
    assert info.extended_key_usage == []
    assert info.has_server_auth  # no EKU extension means any purpose


def test_describe_certificate_issuer_name_falls_back_to_organization(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    org_only = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org CA")])
    cert = issue(
        subject=x509_name("x.example"),
        public_key=ec_key.public_key(),
        issuer=org_only,
        signing_key=ec_key,
        ca=False,
    )
    assert describe_certificate(cert).issuer_common_name == "Org CA"


def test_has_server_auth_false_for_client_auth_only(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = issue(
        subject=x509_name("client"),
        public_key=ec_key.public_key(),
        issuer=pki.intermediate.subject,
        signing_key=pki.intermediate_key,
        ca=False,
        eku=(ExtendedKeyUsageOID.CLIENT_AUTH, x509.ObjectIdentifier("1.2.3.4")),
    )
    info = describe_certificate(cert)
    assert info.extended_key_usage == ["clientAuth", "1.2.3.4"]
    assert not info.has_server_auth


def test_describe_certificate_key_usage_names(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = create_self_signed(key=rsa_key, common_name="a.example", sans=[], days=5)
    info = describe_certificate(cert)
    assert info.key_usage == ["digitalSignature", "keyEncipherment"]
    assert info.signature_algorithm == "sha256WithRSAEncryption"


def test_certificate_fields_label_every_row_the_pages_show(pki: Pki) -> None:
    rows = dict(certificate_fields(pki.leaf))
    assert list(rows) == [
        "Subject",
        "Issuer",
        "Names (SAN)",
        "Valid from",
        "Valid until",
        "Serial",
        "SHA-256 fingerprint",
        "SHA-1 fingerprint",
        "Key",
        "Signature algorithm",
        "Key usage",
        "Extended key usage",
        "CA",
        "Self-signed",
    ]
    assert rows["Names (SAN)"] == "mail.example.com, smtp.example.com"
    assert rows["Valid until"] == f"{pki.leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
    assert rows["SHA-256 fingerprint"] == fingerprint_sha256(pki.leaf)
    assert rows["Key"] == "RSA 2048" and rows["Extended key usage"] == "serverAuth, clientAuth"
    assert (rows["CA"], rows["Self-signed"]) == ("no", "no")


def test_certificate_fields_say_none_and_not_restricted_when_absent(pki: Pki) -> None:
    rows = dict(certificate_fields(pki.root))
    assert rows["Names (SAN)"] == "none"
    assert rows["Key usage"] == rows["Extended key usage"] == "not restricted"
    assert (rows["CA"], rows["Self-signed"]) == ("yes", "yes")
