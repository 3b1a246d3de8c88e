"""Tests for repository.pki.generate: new keys, self-signed certificates and CSRs.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from repository.errors import CryptoError
from repository.pki.convert import csr_to_pem, private_key_to_pem
from repository.pki.describe import describe_certificate, describe_csr
from repository.pki.generate import SubjectFields, create_csr, create_self_signed, generate_private_key
from repository.pki.keytypes import KEY_TYPES, key_description, key_type_of
from repository.pki.match import public_key_matches
from repository.pki.parse import load_csr, load_private_key


@pytest.mark.parametrize("key_type", list(KEY_TYPES))
def test_generate_private_key_round_trips_every_key_type(key_type: str) -> None:
    key = generate_private_key(key_type)
    assert key_type_of(key) == key_type
    assert key_description(key_type) == KEY_TYPES[key_type]
    loaded = load_private_key(private_key_to_pem(key))
    assert public_key_matches(loaded, key.public_key())
    assert key_type_of(key.public_key()) == key_type


def test_generate_private_key_rejects_unknown_type() -> None:
    with pytest.raises(CryptoError, match="Unknown key type 'dsa1024'"):
        generate_private_key("dsa1024")


def test_create_self_signed_has_server_certificate_properties(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    now = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
    cert = create_self_signed(
        key=rsa_key,
        common_name="Mail.Example.com",
        sans=["mail.example.com", "imap.example.com", "192.0.2.7", "", "IMAP.example.com"],
        days=90,
        now=now,
    )
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.com", "imap.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.7")]
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ("mail.example.com")
    assert cert.not_valid_before_utc == now - timedelta(minutes=5)
    assert cert.not_valid_after_utc == now + timedelta(days=90)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.key_encipherment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    info = describe_certificate(cert)
    assert info.self_signed and not info.is_ca and info.has_server_auth


def test_create_self_signed_ec_key_has_no_key_encipherment(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    cert = create_self_signed(key=ec_key, common_name="mx.example.com", sans=[], days=1)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    assert describe_certificate(cert).sans == ["mx.example.com"]


def test_create_self_signed_with_ed25519_and_ip_common_name() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    cert = create_self_signed(key=key, common_name="192.0.2.1", sans=[], days=10)
    info = describe_certificate(cert)
    assert cert.signature_hash_algorithm is None
    assert info.signature_algorithm == "ed25519"
    assert info.common_name == "192.0.2.1"
    assert info.sans == ["192.0.2.1"]
    assert info.self_signed


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_create_self_signed_rejects_out_of_range_days(ec_key: ec.EllipticCurvePrivateKey, days: int) -> None:
    with pytest.raises(CryptoError, match="between 1 and 3650 days"):
        create_self_signed(key=ec_key, common_name="a.example", sans=[], days=days)


def test_create_self_signed_rejects_invalid_san(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(CryptoError, match="'bad name' is not a valid hostname"):
        create_self_signed(key=ec_key, common_name="a.example", sans=["bad name"], days=5)


def test_create_csr_carries_subject_fields_and_sans(ec_key: ec.EllipticCurvePrivateKey) -> None:
    subject = SubjectFields(
        common_name="Mail.Example.com",
        organization="Example GmbH",
        organizational_unit="IT",
        locality="Berlin",
        state="Berlin",
        country="de",
        email="hostmaster@example.com",
    )
    csr = create_csr(key=ec_key, subject=subject, sans=["smtp.example.com"])
    info = describe_csr(load_csr(csr_to_pem(csr)))
    assert info["common_name"] == "mail.example.com"
    assert info["sans"] == ["mail.example.com", "smtp.example.com"]
    assert info["signature_valid"] is True
    assert info["key_type"] == "ec256"
    assert info["signature_algorithm"] == "ecdsa-with-SHA256"
    assert csr.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    assert "O=Example GmbH" in str(info["subject"])
    assert "OU=IT" in str(info["subject"])
    assert "L=Berlin" in str(info["subject"])


@pytest.mark.parametrize("country", ["Germany", "D", "1A", "Ö1"])
def test_create_csr_rejects_bad_country(ec_key: ec.EllipticCurvePrivateKey, country: str) -> None:
    with pytest.raises(CryptoError, match=r"^Country must be a two-letter code such as DE\.$"):
        create_csr(key=ec_key, subject=SubjectFields("a.example", country=country), sans=[])


def test_create_csr_rejects_bad_email_and_long_fields(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    with pytest.raises(CryptoError, match="not a valid email address"):
        create_csr(key=ec_key, subject=SubjectFields("a.example", email="nobody"), sans=[])
    with pytest.raises(CryptoError, match="Organization may be at most 64 characters"):
        create_csr(key=ec_key, subject=SubjectFields("a.example", organization="x" * 65), sans=[])
