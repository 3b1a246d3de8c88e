"""Tests for repository.crypto (and the chain helpers it re-exports).

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from repository import crypto
from repository.crypto import SubjectFields
from repository.errors import CryptoError

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
NOW = datetime.now(UTC)
AIA_URL = "http://ca.example.test/intermediate.cer"


# --- helpers ----------------------------------------------------------------------------------


def _name(common_name: str, organization: str = "Test PKI") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    *,
    subject: x509.Name,
    public_key: crypto.PublicKey,
    issuer: x509.Name,
    signing_key: crypto.PrivateKey,
    ca: bool,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    aia_urls: tuple[str, ...] = (),
    eku: tuple[x509.ObjectIdentifier, ...] | None = (ExtendedKeyUsageOID.SERVER_AUTH,),
    sans: tuple[str, ...] = (),
) -> x509.Certificate:
    """Sign a certificate the way a small CA would."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=1))
        .not_valid_after(not_after or NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    if aia_urls:
        access = [
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u))
            for u in aia_urls
        ]
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    leaf: x509.Certificate


def build_pki(leaf_key: rsa.RSAPrivateKey, *, root_cn: str = "Test Root") -> Pki:
    """root -> intermediate -> leaf; the leaf points at its issuer via AIA."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = issue(
        subject=_name(root_cn),
        public_key=root_key.public_key(),
        issuer=_name(root_cn),
        signing_key=root_key,
        ca=True,
        eku=None,
    )
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    intermediate = issue(
        subject=_name(f"{root_cn} Intermediate"),
        public_key=intermediate_key.public_key(),
        issuer=root.subject,
        signing_key=root_key,
        ca=True,
        eku=None,
    )
    leaf = issue(
        subject=_name("mail.example.com"),
        public_key=leaf_key.public_key(),
        issuer=intermediate.subject,
        signing_key=intermediate_key,
        ca=False,
        aia_urls=(AIA_URL, "ldap://ldap.example.test/cn=ca"),
        eku=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        sans=("mail.example.com", "smtp.example.com"),
    )
    return Pki(root_key, root, intermediate_key, intermediate, leaf_key, leaf)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def run_openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def pki(rsa_key: rsa.RSAPrivateKey) -> Pki:
    return build_pki(rsa_key)


@pytest.fixture(scope="module")
def other_pki() -> Pki:
    return build_pki(rsa.generate_private_key(65537, 2048), root_cn="Other Root")


# --- key generation and PEM round trips -------------------------------------------------------


@pytest.mark.parametrize("key_type", list(crypto.KEY_TYPES))
def test_generate_private_key_round_trips_every_key_type(key_type: str) -> None:
    key = crypto.generate_private_key(key_type)
    assert crypto.key_type_of(key) == key_type
    assert crypto.key_description(key_type) == crypto.KEY_TYPES[key_type]
    loaded = crypto.load_private_key(crypto.private_key_to_pem(key))
    assert crypto.public_key_matches(loaded, key.public_key())
    assert crypto.key_type_of(key.public_key()) == key_type


def test_generate_private_key_rejects_unknown_type() -> None:
    with pytest.raises(CryptoError, match="Unknown key type 'dsa1024'"):
        crypto.generate_private_key("dsa1024")


def test_key_type_of_names_loaded_only_key_types() -> None:
    assert crypto.key_type_of(ed25519.Ed25519PrivateKey.generate()) == "ed25519"
    assert crypto.key_type_of(ec.generate_private_key(ec.SECP521R1())) == "ec521"
    assert crypto.key_type_of(ec.generate_private_key(ec.SECP256K1())) == "ec-secp256k1"


@pytest.mark.parametrize(
    ("key_type", "description"),
    [
        ("rsa8192", "RSA 8192"),
        ("rsa1024", "RSA 1024"),
        ("ec521", "ECDSA P-521"),
        ("ed25519", "Ed25519"),
        ("ec-secp256k1", "ECDSA secp256k1"),
        ("mystery", "mystery"),
    ],
)
def test_key_description_handles_types_outside_key_types(key_type: str, description: str) -> None:
    assert crypto.key_description(key_type) == description


def test_encrypted_pem_loads_with_right_passphrase(rsa_key: rsa.RSAPrivateKey) -> None:
    data = crypto.private_key_to_pem(rsa_key, b"correct horse")
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in data
    assert crypto.public_key_matches(crypto.load_private_key(data, b"correct horse"), rsa_key)


def test_encrypted_pem_rejects_wrong_passphrase(rsa_key: rsa.RSAPrivateKey) -> None:
    data = crypto.private_key_to_pem(rsa_key, b"correct horse")
    with pytest.raises(CryptoError, match=r"^Wrong passphrase for the private key\.$"):
        crypto.load_private_key(data, b"battery staple")


def test_encrypted_pem_without_passphrase_asks_for_it(rsa_key: rsa.RSAPrivateKey) -> None:
    data = crypto.private_key_to_pem(rsa_key, b"correct horse")
    for missing in (None, b""):
        with pytest.raises(CryptoError, match=r"^The private key is encrypted: enter its"):
            crypto.load_private_key(data, missing)


def test_passphrase_for_unencrypted_key_is_ignored(ec_key: ec.EllipticCurvePrivateKey) -> None:
    key = crypto.load_private_key(crypto.private_key_to_pem(ec_key), b"unneeded")
    assert crypto.public_key_matches(key, ec_key)


def test_private_key_to_pem_with_empty_passphrase_is_unencrypted(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    assert b"BEGIN PRIVATE KEY" in crypto.private_key_to_pem(ec_key, b"")


def test_traditional_pem_uses_openssl_headers(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate()
    assert b"BEGIN RSA PRIVATE KEY" in crypto.private_key_to_traditional_pem(rsa_key)
    assert b"BEGIN EC PRIVATE KEY" in crypto.private_key_to_traditional_pem(ec_key)
    assert b"BEGIN PRIVATE KEY" in crypto.private_key_to_traditional_pem(ed_key)
    for key in (rsa_key, ec_key, ed_key):
        loaded = crypto.load_private_key(crypto.private_key_to_traditional_pem(key))
        assert crypto.public_key_matches(loaded, key)


def test_legacy_encrypted_pem_from_cryptography(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert b"Proc-Type: 4,ENCRYPTED" in data
    assert crypto.public_key_matches(crypto.load_private_key(data, b"pw"), ec_key)
    with pytest.raises(CryptoError, match="enter its passphrase"):
        crypto.load_private_key(data)
    with pytest.raises(CryptoError, match="Wrong passphrase"):
        crypto.load_private_key(data, b"nope")


@needs_openssl
def test_legacy_encrypted_pem_from_openssl_with_crlf(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    (tmp_path / "plain.pem").write_bytes(crypto.private_key_to_pem(rsa_key))
    run_openssl(
        "rsa", "-in", "plain.pem", "-traditional", "-aes256",
        "-passout", "pass:x", "-out", "legacy.pem",
        cwd=tmp_path,
    )  # fmt: skip
    data = (tmp_path / "legacy.pem").read_bytes()
    assert b"Proc-Type: 4,ENCRYPTED" in data
    crlf = data.replace(b"\n", b"\r\n")
    assert crypto.public_key_matches(crypto.load_private_key(crlf, b"x"), rsa_key)
    with pytest.raises(CryptoError, match=r"^Wrong passphrase"):
        crypto.load_private_key(crlf, b"y")
    with pytest.raises(CryptoError, match="enter its passphrase"):
        crypto.load_private_key(crlf)


@needs_openssl
def test_openssl_encrypted_pkcs8_key_loads(ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    (tmp_path / "plain.pem").write_bytes(crypto.private_key_to_traditional_pem(ec_key))
    run_openssl(
        "pkcs8", "-topk8", "-in", "plain.pem", "-v2", "aes-256-cbc",
        "-passout", "pass:x", "-out", "p8.pem",
        cwd=tmp_path,
    )  # fmt: skip
    data = (tmp_path / "p8.pem").read_bytes()
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in data
    assert crypto.public_key_matches(crypto.load_private_key(data, b"x"), ec_key)


def test_der_keys_load_in_pkcs8_and_pkcs1(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    for key, fmt in [
        (rsa_key, serialization.PrivateFormat.PKCS8),
        (rsa_key, serialization.PrivateFormat.TraditionalOpenSSL),
        (ec_key, serialization.PrivateFormat.PKCS8),
        (ec_key, serialization.PrivateFormat.TraditionalOpenSSL),
    ]:
        data = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        assert crypto.public_key_matches(crypto.load_private_key(data), key)


def test_encrypted_der_key_needs_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = ec_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert crypto.public_key_matches(crypto.load_private_key(data, b"pw"), ec_key)
    with pytest.raises(CryptoError, match="enter its passphrase"):
        crypto.load_private_key(data)
    with pytest.raises(CryptoError, match="Wrong passphrase"):
        crypto.load_private_key(data, b"bad")


def test_load_private_key_tolerates_crlf_bom_and_surrounding_text(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    body = crypto.private_key_to_pem(ec_key).replace(b"\n", b"\r\n")
    data = b"\xef\xbb\xbfHere is my key:\r\n" + body + b"\r\nthanks!\r\n"
    assert crypto.public_key_matches(crypto.load_private_key(data), ec_key)


def test_load_private_key_picks_key_out_of_combined_pem(pki: Pki) -> None:
    data = pem(pki.leaf) + pem(pki.intermediate) + crypto.private_key_to_pem(pki.leaf_key)
    assert crypto.public_key_matches(crypto.load_private_key(data), pki.leaf)


@pytest.mark.parametrize(
    "data",
    [b"hello world", b"\x30\x03\x02\x01\x01", b"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"],
)  # fmt: skip
def test_load_private_key_rejects_data_without_key(data: bytes) -> None:
    with pytest.raises(CryptoError, match=r"^No private key found"):
        crypto.load_private_key(data)


def test_load_private_key_rejects_certificate_only(pki: Pki) -> None:
    with pytest.raises(CryptoError, match=r"^No private key found"):
        crypto.load_private_key(pem(pki.leaf))


def test_load_private_key_rejects_empty_input() -> None:
    with pytest.raises(CryptoError, match="empty"):
        crypto.load_private_key(b"  \n")


def test_load_private_key_reports_truncated_pem(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = crypto.private_key_to_pem(ec_key)
    with pytest.raises(CryptoError, match="truncated: '-----END PRIVATE KEY-----' is missing"):
        crypto.load_private_key(data[: len(data) // 2])


def test_load_private_key_reports_damaged_block(ec_key: ec.EllipticCurvePrivateKey) -> None:
    lines = crypto.private_key_to_pem(ec_key).splitlines(keepends=True)
    lines[1] = b"!!" + lines[1][2:]
    with pytest.raises(CryptoError, match="damaged") as caught:
        crypto.load_private_key(b"".join(lines))
    assert lines[2].strip().decode() not in str(caught.value)


def test_load_private_key_rejects_two_keys(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = crypto.private_key_to_pem(rsa_key) + crypto.private_key_to_pem(ec_key)
    with pytest.raises(CryptoError, match="more than one private key"):
        crypto.load_private_key(data)


def test_error_messages_never_contain_key_material(rsa_key: rsa.RSAPrivateKey) -> None:
    data = crypto.private_key_to_pem(rsa_key, b"pw")
    secrets = [line.decode() for line in data.splitlines()[1:-1]]
    for attempt in (data, data[:-40], data.replace(b"M", b"*", 1)):
        for passphrase in (None, b"wrong"):
            with pytest.raises(CryptoError) as caught:
                crypto.load_private_key(attempt, passphrase)
            assert not any(secret in str(caught.value) for secret in secrets)


def test_describe_private_key_has_no_key_material(rsa_key: rsa.RSAPrivateKey) -> None:
    info = crypto.describe_private_key(rsa_key)
    spki = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    assert info == {"key_type": "rsa2048", "public_key_sha256": digest.finalize().hex()}


def test_public_key_matches_compares_keys_certificates_and_csrs(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    csr = crypto.create_csr(key=pki.leaf_key, subject=SubjectFields("mail.example.com"), sans=[])
    assert crypto.public_key_matches(pki.leaf_key, pki.leaf)
    assert crypto.public_key_matches(pki.leaf_key.public_key(), csr)
    assert not crypto.public_key_matches(ec_key, pki.leaf)


# --- hostnames --------------------------------------------------------------------------------


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
    assert crypto.normalize_hostname(raw) == expected


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
        crypto.normalize_hostname(raw)


def test_normalize_hostname_message_quotes_the_name() -> None:
    with pytest.raises(CryptoError, match=r"^'exa mple\.com' is not a valid hostname\.$"):
        crypto.normalize_hostname("exa mple.com")


def test_normalize_hostname_message_truncates_long_input() -> None:
    with pytest.raises(CryptoError) as caught:
        crypto.normalize_hostname("x y" * 100)
    quoted = str(caught.value).split("'")[1]
    assert len(quoted) == 80
    assert quoted.endswith("...")


def test_normalize_hostname_rejects_wildcard_when_not_allowed() -> None:
    with pytest.raises(CryptoError, match="not a valid hostname"):
        crypto.normalize_hostname("*.example.com", allow_wildcard=False)


def test_is_ip_address() -> None:
    assert crypto.is_ip_address("192.0.2.1")
    assert crypto.is_ip_address(" 2001:db8::1 ")
    assert not crypto.is_ip_address("example.com")
    assert not crypto.is_ip_address("999.1.1.1")


# --- self-signed certificates and CSRs --------------------------------------------------------


def test_create_self_signed_has_server_certificate_properties(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    now = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
    cert = crypto.create_self_signed(
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
    info = crypto.describe_certificate(cert)
    assert info.self_signed and not info.is_ca and info.has_server_auth


def test_create_self_signed_ec_key_has_no_key_encipherment(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    cert = crypto.create_self_signed(key=ec_key, common_name="mx.example.com", sans=[], days=1)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    assert crypto.describe_certificate(cert).sans == ["mx.example.com"]


def test_create_self_signed_with_ed25519_and_ip_common_name() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    cert = crypto.create_self_signed(key=key, common_name="192.0.2.1", sans=[], days=10)
    info = crypto.describe_certificate(cert)
    assert cert.signature_hash_algorithm is None
    assert info.signature_algorithm == "ed25519"
    assert info.common_name == "192.0.2.1"
    assert info.sans == ["192.0.2.1"]
    assert info.self_signed


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_create_self_signed_rejects_out_of_range_days(ec_key: ec.EllipticCurvePrivateKey, days: int) -> None:
    with pytest.raises(CryptoError, match="between 1 and 3650 days"):
        crypto.create_self_signed(key=ec_key, common_name="a.example", sans=[], days=days)


def test_create_self_signed_rejects_invalid_san(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(CryptoError, match="'bad name' is not a valid hostname"):
        crypto.create_self_signed(key=ec_key, common_name="a.example", sans=["bad name"], days=5)


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
    csr = crypto.create_csr(key=ec_key, subject=subject, sans=["smtp.example.com"])
    info = crypto.describe_csr(crypto.load_csr(crypto.csr_to_pem(csr)))
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
        crypto.create_csr(key=ec_key, subject=SubjectFields("a.example", country=country), sans=[])


def test_create_csr_rejects_bad_email_and_long_fields(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    with pytest.raises(CryptoError, match="not a valid email address"):
        crypto.create_csr(key=ec_key, subject=SubjectFields("a.example", email="nobody"), sans=[])
    with pytest.raises(CryptoError, match="Organization may be at most 64 characters"):
        crypto.create_csr(key=ec_key, subject=SubjectFields("a.example", organization="x" * 65), sans=[])


def test_load_csr_accepts_der_and_new_certificate_request_label(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    csr = crypto.create_csr(key=ec_key, subject=SubjectFields("a.example"), sans=[])
    legacy = crypto.csr_to_pem(csr).replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    assert crypto.load_csr(legacy) == csr
    assert crypto.load_csr(csr.public_bytes(serialization.Encoding.DER)) == csr


def test_load_csr_rejects_tampered_request(ec_key: ec.EllipticCurvePrivateKey) -> None:
    csr = crypto.create_csr(key=ec_key, subject=SubjectFields("mail.example.com"), sans=[])
    tampered = csr.public_bytes(serialization.Encoding.DER).replace(b"mail.example.com", b"evil.example.com")
    with pytest.raises(CryptoError, match="signature is invalid"):
        crypto.load_csr(tampered)


def test_load_csr_explains_other_inputs(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="This is a certificate, not a certificate signing"):
        crypto.load_csr(pem(pki.leaf))
    with pytest.raises(CryptoError, match="This is a private key"):
        crypto.load_csr(crypto.private_key_to_pem(pki.intermediate_key))
    with pytest.raises(CryptoError, match="not a certificate signing request"):
        crypto.load_csr(b"\x01\x02garbage")


# --- parsing certificates ---------------------------------------------------------------------


def test_parse_certificates_reads_many_pem_blocks_with_text_and_drops_duplicates(
    pki: Pki,
) -> None:
    data = (
        b"subject=CN=mail.example.com\n"
        + pem(pki.leaf)
        + b"\nBag Attributes: friendlyName: x\n"
        + pem(pki.intermediate)
        + pem(pki.leaf)
        + b"-- end --\n"
    )
    assert crypto.parse_certificates(data) == [pki.leaf, pki.intermediate]


def test_parse_certificates_accepts_crlf_bom_and_x509_label(pki: Pki) -> None:
    legacy = pem(pki.intermediate).replace(b"CERTIFICATE", b"X509 CERTIFICATE")
    data = b"\xef\xbb\xbf" + (pem(pki.leaf) + legacy).replace(b"\n", b"\r\n")
    assert crypto.parse_certificates(data) == [pki.leaf, pki.intermediate]


def test_parse_certificates_accepts_pem_on_one_line(pki: Pki) -> None:
    one_line = pem(pki.leaf).replace(b"\n", b" ")
    assert crypto.parse_certificates(one_line) == [pki.leaf]


def test_parse_certificates_reads_der(pki: Pki) -> None:
    assert crypto.parse_certificates(der(pki.leaf)) == [pki.leaf]


def test_parse_certificates_reads_pkcs7_pem_and_der(pki: Pki) -> None:
    certs = [pki.leaf, pki.intermediate, pki.root]
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        data = pkcs7.serialize_certificates(certs, encoding)
        # DER sorts a SET OF, so PKCS#7 does not keep the original order.
        assert sorted(map(der, crypto.parse_certificates(data))) == sorted(map(der, certs))


@pytest.mark.parametrize("data", [b"", b" \r\n\t"])
def test_parse_certificates_rejects_empty_input(data: bytes) -> None:
    with pytest.raises(CryptoError, match="empty"):
        crypto.parse_certificates(data)


@pytest.mark.parametrize("data", [b"just some text", bytes(range(256)), b"\x30\x82\xff\xff\x00", b"MIIB" * 30])
def test_parse_certificates_rejects_garbage(data: bytes) -> None:
    with pytest.raises(CryptoError, match=r"^This is not a certificate: expected PEM, DER or"):
        crypto.parse_certificates(data)


def test_parse_certificates_rejects_truncated_pem(pki: Pki) -> None:
    data = pem(pki.leaf)
    with pytest.raises(
        CryptoError,
        match=r"^The PEM data is truncated: '-----END CERTIFICATE-----' is missing\.$",
    ):
        crypto.parse_certificates(data[:-30])


def test_parse_certificates_rejects_truncated_block_followed_by_complete_one(
    pki: Pki,
) -> None:
    cut = pem(pki.leaf)[:200]
    with pytest.raises(CryptoError, match="truncated"):
        crypto.parse_certificates(cut + b"\n" + pem(pki.intermediate))


def test_parse_certificates_rejects_corrupted_base64(pki: Pki) -> None:
    lines = pem(pki.leaf).splitlines(keepends=True)
    lines[3] = lines[3][:10] + b"#$%" + lines[3][13:]
    with pytest.raises(CryptoError, match=r"^The certificate PEM block is damaged \(bad base64 or DER\)\.$"):
        crypto.parse_certificates(b"".join(lines))


def test_parse_certificates_rejects_valid_base64_with_broken_der(pki: Pki) -> None:
    broken = base64.encodebytes(der(pki.leaf)[:-20])
    data = b"-----BEGIN CERTIFICATE-----\n" + broken + b"-----END CERTIFICATE-----\n"
    with pytest.raises(CryptoError, match="certificate PEM block is damaged"):
        crypto.parse_certificates(data)


def test_parse_certificates_says_a_key_is_not_a_certificate(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    message = "^This is a private key, not a certificate.$"
    with pytest.raises(CryptoError, match=message):
        crypto.parse_certificates(crypto.private_key_to_pem(ec_key))
    der_key = ec_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(CryptoError, match=message):
        crypto.parse_certificates(der_key)


def test_parse_certificates_says_a_csr_is_not_a_certificate(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    csr = crypto.create_csr(key=ec_key, subject=SubjectFields("a.example"), sans=[])
    message = r"^This is a certificate signing request \(CSR\), not a certificate.$"
    with pytest.raises(CryptoError, match=message):
        crypto.parse_certificates(crypto.csr_to_pem(csr))
    with pytest.raises(CryptoError, match=message):
        crypto.parse_certificates(csr.public_bytes(serialization.Encoding.DER))


def test_parse_certificates_points_pkcs12_uploads_elsewhere(pki: Pki) -> None:
    data = crypto.to_pkcs12(name="x", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"pw")
    with pytest.raises(CryptoError, match="PKCS#12"):
        crypto.parse_certificates(data)


# --- bundles ----------------------------------------------------------------------------------


def test_parse_bundle_reads_certificates_and_key_in_any_order(pki: Pki) -> None:
    key_pem = crypto.private_key_to_pem(pki.leaf_key)
    chain_pem = pem(pki.leaf) + pem(pki.intermediate) + pem(pki.root)
    for data in (chain_pem + key_pem, key_pem + chain_pem):
        bundle = crypto.parse_bundle(data)
        assert bundle.certificates == [pki.leaf, pki.intermediate, pki.root]
        assert bundle.key is not None
        assert crypto.public_key_matches(bundle.key, pki.leaf)


def test_parse_bundle_decrypts_key_with_passphrase(pki: Pki) -> None:
    data = crypto.private_key_to_pem(pki.leaf_key, b"pw") + pem(pki.leaf)
    assert crypto.parse_bundle(data, b"pw").key is not None
    with pytest.raises(CryptoError, match="enter its passphrase"):
        crypto.parse_bundle(data)


def test_parse_bundle_without_key_has_no_key(pki: Pki) -> None:
    assert crypto.parse_bundle(pem(pki.leaf)).key is None
    assert crypto.parse_bundle(der(pki.leaf)) == crypto.Bundle([pki.leaf], None)


def test_parse_bundle_requires_a_certificate(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="This is a private key, not a certificate"):
        crypto.parse_bundle(crypto.private_key_to_pem(pki.leaf_key))


# --- PKCS#12 ----------------------------------------------------------------------------------


def test_pkcs12_round_trip_with_password(pki: Pki) -> None:
    data = crypto.to_pkcs12(
        name="mail",
        key=pki.leaf_key,
        cert=pki.leaf,
        chain=[pki.intermediate, pki.root],
        password=b"s3cret",
    )
    assert crypto.looks_like_pkcs12(data)
    bundle = crypto.parse_pkcs12(data, b"s3cret")
    assert bundle.certificates == [pki.leaf, pki.intermediate, pki.root]
    assert bundle.key is not None
    assert crypto.public_key_matches(bundle.key, pki.leaf)


def test_parse_pkcs12_rejects_wrong_password(pki: Pki) -> None:
    data = crypto.to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"a")
    with pytest.raises(CryptoError, match=r"^Wrong password for the PKCS#12 file\.$"):
        crypto.parse_pkcs12(data, b"b")


def test_parse_pkcs12_asks_for_missing_password(pki: Pki) -> None:
    data = crypto.to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"a")
    for missing in (None, b""):
        with pytest.raises(CryptoError, match=r"^The PKCS#12 file is password-protected"):
            crypto.parse_pkcs12(data, missing)


def test_parse_pkcs12_reads_unprotected_file_without_password(pki: Pki) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"m", pki.leaf_key, pki.leaf, [pki.intermediate], serialization.NoEncryption()
    )
    assert crypto.parse_pkcs12(data, None).certificates == [pki.leaf, pki.intermediate]
    # A password typed for an unprotected file is harmless.
    assert crypto.parse_pkcs12(data, b"typed anyway").key is not None


@needs_openssl
def test_parse_pkcs12_reads_openssl_empty_password_file(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(pem(pki.leaf))
    (tmp_path / "key.pem").write_bytes(crypto.private_key_to_pem(pki.leaf_key))
    run_openssl(
        "pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem",
        "-passout", "pass:", "-out", "empty.pfx",
        cwd=tmp_path,
    )  # fmt: skip
    bundle = crypto.parse_pkcs12((tmp_path / "empty.pfx").read_bytes(), None)
    assert bundle.certificates == [pki.leaf]
    assert bundle.key is not None


def test_parse_pkcs12_puts_certificate_matching_key_first(pki: Pki) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"m",
        pki.leaf_key,
        None,
        [pki.root, pki.intermediate, pki.leaf],
        serialization.BestAvailableEncryption(b"pw"),
    )
    bundle = crypto.parse_pkcs12(data, b"pw")
    assert bundle.certificates[0] == pki.leaf
    assert set(bundle.certificates[1:]) == {pki.root, pki.intermediate}


@pytest.mark.parametrize("data", [b"", b"not a pfx", b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x03"])
def test_parse_pkcs12_rejects_non_pkcs12(data: bytes) -> None:
    with pytest.raises(CryptoError, match=r"^This is not a PKCS#12 \(\.pfx/\.p12\) file\.$"):
        crypto.parse_pkcs12(data, b"pw")


def test_parse_pkcs12_rejects_certificate_der(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="not a PKCS#12"):
        crypto.parse_pkcs12(der(pki.leaf), None)


def test_looks_like_pkcs12(pki: Pki) -> None:
    data = crypto.to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"a")
    assert crypto.looks_like_pkcs12(data)
    assert not crypto.looks_like_pkcs12(der(pki.leaf))
    assert not crypto.looks_like_pkcs12(pem(pki.leaf))
    assert not crypto.looks_like_pkcs12(b"\x30")


def test_to_pkcs12_requires_password_and_matching_key(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="Enter a password"):
        crypto.to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"")
    with pytest.raises(CryptoError, match="does not match"):
        crypto.to_pkcs12(name="m", key=pki.root_key, cert=pki.leaf, chain=[], password=b"pw")


@needs_openssl
def test_openssl_reads_our_pkcs12(pki: Pki, tmp_path: Path) -> None:
    data = crypto.to_pkcs12(
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


# --- chains -----------------------------------------------------------------------------------


def test_order_chain_sorts_shuffled_input(pki: Pki) -> None:
    leaf, chain = crypto.order_chain([pki.intermediate, pki.root, pki.leaf])
    assert leaf == pki.leaf
    assert chain == [pki.intermediate, pki.root]


def test_order_chain_sorts_reversed_input(pki: Pki) -> None:
    leaf, chain = crypto.order_chain([pki.root, pki.intermediate, pki.leaf])
    assert (leaf, chain) == (pki.leaf, [pki.intermediate, pki.root])


def test_order_chain_drops_unrelated_certificates(pki: Pki, other_pki: Pki) -> None:
    leaf, chain = crypto.order_chain(
        [other_pki.root, pki.intermediate, other_pki.intermediate, pki.leaf],
        leaf_key=pki.leaf_key,
    )
    assert (leaf, chain) == (pki.leaf, [pki.intermediate])


def test_order_chain_prefers_the_certificate_matching_the_key(pki: Pki, other_pki: Pki) -> None:
    certs = [pki.leaf, other_pki.leaf, other_pki.intermediate]
    leaf, chain = crypto.order_chain(certs, leaf_key=other_pki.leaf_key.public_key())
    assert (leaf, chain) == (other_pki.leaf, [other_pki.intermediate])


def test_order_chain_detects_key_mismatch(pki: Pki, other_pki: Pki) -> None:
    with pytest.raises(CryptoError, match=r"^None of the certificates matches the private key\.$"):
        crypto.order_chain([pki.leaf, pki.intermediate], leaf_key=other_pki.leaf_key)


def test_order_chain_requires_signature_not_just_matching_names(pki: Pki) -> None:
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    impostor = issue(
        subject=pki.intermediate.subject,
        public_key=impostor_key.public_key(),
        issuer=pki.root.subject,
        signing_key=impostor_key,
        ca=True,
    )
    leaf, chain = crypto.order_chain([pki.leaf, impostor, pki.intermediate])
    assert (leaf, chain) == (pki.leaf, [pki.intermediate])


def test_order_chain_of_single_self_signed_certificate(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = crypto.create_self_signed(key=rsa_key, common_name="a.example", sans=[], days=5)
    assert crypto.order_chain([cert, cert]) == (cert, [])


def test_order_chain_rejects_empty_input() -> None:
    with pytest.raises(CryptoError):
        crypto.order_chain([])


def test_missing_issuer_only_for_a_lone_leaf(pki: Pki, rsa_key: rsa.RSAPrivateKey) -> None:
    assert crypto.missing_issuer(pki.leaf, []) == pki.intermediate.subject
    assert crypto.missing_issuer(pki.leaf, [pki.intermediate]) is None
    assert crypto.missing_issuer(pki.leaf, [pki.intermediate, pki.root]) is None
    self_signed = crypto.create_self_signed(key=rsa_key, common_name="a.example", sans=[], days=5)
    assert crypto.missing_issuer(self_signed, []) is None


def test_path_ends_at_root(pki: Pki) -> None:
    assert crypto.path_ends_at_root(pki.leaf, [pki.intermediate, pki.root])
    assert not crypto.path_ends_at_root(pki.leaf, [pki.intermediate])
    assert crypto.path_ends_at_root(pki.root, [])


def test_aia_ca_issuers_urls_returns_http_urls_only(pki: Pki) -> None:
    assert crypto.aia_ca_issuers_urls(pki.leaf) == [AIA_URL]
    assert crypto.aia_ca_issuers_urls(pki.root) == []


def test_verify_chain_accepts_complete_chain(pki: Pki) -> None:
    assert crypto.verify_chain(pki.leaf, [pki.intermediate]) == []
    assert crypto.verify_chain(pki.leaf, [pki.intermediate, pki.root]) == []


def test_verify_chain_reports_expired_certificate(pki: Pki) -> None:
    expired = issue(
        subject=_name("old.example.com"),
        public_key=pki.leaf_key.public_key(),
        issuer=pki.intermediate.subject,
        signing_key=pki.intermediate_key,
        ca=False,
        not_before=datetime(2024, 1, 1, tzinfo=UTC),
        not_after=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert crypto.verify_chain(expired, [pki.intermediate]) == ["old.example.com expired on 2025-01-01."]


def test_verify_chain_reports_not_yet_valid_with_explicit_now(pki: Pki) -> None:
    before = NOW - timedelta(days=30)
    problems = crypto.verify_chain(pki.leaf, [pki.intermediate], now=before)
    assert len(problems) == 2
    assert problems[0].startswith("mail.example.com is not valid yet")


def test_verify_chain_reports_wrong_issuer(pki: Pki, other_pki: Pki) -> None:
    problems = crypto.verify_chain(pki.leaf, [other_pki.intermediate])
    assert problems == ["mail.example.com is not signed by Other Root Intermediate."]


def test_verify_chain_reports_missing_intermediate(pki: Pki) -> None:
    assert crypto.verify_chain(pki.leaf, []) == [
        "The intermediate certificate for issuer 'CN=Test Root Intermediate,O=Test PKI' is missing."
    ]


# --- describing -------------------------------------------------------------------------------


def test_describe_certificate_fields(pki: Pki) -> None:
    info = crypto.describe_certificate(pki.leaf)
    assert info.common_name == "mail.example.com"
    assert info.sans == ["mail.example.com", "smtp.example.com"]
    assert info.subject == "CN=mail.example.com,O=Test PKI"
    assert info.issuer == "CN=Test Root Intermediate,O=Test PKI"
    assert info.issuer_common_name == "Test Root Intermediate"
    assert info.serial == format(pki.leaf.serial_number, "x")
    assert info.not_before == pki.leaf.not_valid_before_utc
    assert info.not_after.tzinfo is not None
    assert info.fingerprint_sha256 == pki.leaf.fingerprint(hashes.SHA256()).hex()
    assert info.fingerprint_sha256 == crypto.fingerprint_sha256(pki.leaf)
    assert info.fingerprint_sha1 == pki.leaf.fingerprint(hashes.SHA1()).hex()
    assert info.key_type == "rsa2048"
    assert info.signature_algorithm == "ecdsa-with-SHA256"
    assert info.key_usage == []
    assert info.extended_key_usage == ["serverAuth", "clientAuth"]
    assert not info.is_ca and not info.self_signed
    assert info.has_server_auth


def test_describe_certificate_of_root(pki: Pki) -> None:
    info = crypto.describe_certificate(pki.root)
    assert info.is_ca and info.self_signed
    assert info.key_type == "ec256"
    assert info.extended_key_usage == []
    assert info.has_server_auth  # no EKU extension means any purpose


def test_describe_certificate_issuer_name_falls_back_to_organization(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    org_only = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org CA")])
    cert = issue(
        subject=_name("x.example"),
        public_key=ec_key.public_key(),
        issuer=org_only,
        signing_key=ec_key,
        ca=False,
    )
    assert crypto.describe_certificate(cert).issuer_common_name == "Org CA"


def test_has_server_auth_false_for_client_auth_only(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = issue(
        subject=_name("client"),
        public_key=ec_key.public_key(),
        issuer=pki.intermediate.subject,
        signing_key=pki.intermediate_key,
        ca=False,
        eku=(ExtendedKeyUsageOID.CLIENT_AUTH, x509.ObjectIdentifier("1.2.3.4")),
    )
    info = crypto.describe_certificate(cert)
    assert info.extended_key_usage == ["clientAuth", "1.2.3.4"]
    assert not info.has_server_auth


def test_describe_certificate_key_usage_names(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = crypto.create_self_signed(key=rsa_key, common_name="a.example", sans=[], days=5)
    info = crypto.describe_certificate(cert)
    assert info.key_usage == ["digitalSignature", "keyEncipherment"]
    assert info.signature_algorithm == "sha256WithRSAEncryption"


# --- export and conversion --------------------------------------------------------------------


def test_certificates_to_pem_round_trips(pki: Pki) -> None:
    data = crypto.certificates_to_pem([pki.leaf, pki.intermediate])
    assert data.count(b"-----END CERTIFICATE-----\n") == 2
    assert data.endswith(b"\n")
    assert crypto.parse_certificates(data) == [pki.leaf, pki.intermediate]
    assert crypto.certificate_to_pem(pki.leaf) == pem(pki.leaf)
    assert crypto.parse_certificates(crypto.certificate_to_der(pki.leaf)) == [pki.leaf]


def test_convert_der_and_pkcs7_to_pem(pki: Pki) -> None:
    assert crypto.convert(der(pki.leaf), to="pem") == pem(pki.leaf)
    p7 = pkcs7.serialize_certificates([pki.leaf, pki.intermediate], serialization.Encoding.DER)
    converted = crypto.parse_certificates(crypto.convert(p7, to="pem"))
    assert set(converted) == {pki.leaf, pki.intermediate}


def test_convert_pkcs12_to_pem_includes_unencrypted_key(pki: Pki) -> None:
    p12 = crypto.to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[pki.intermediate], password=b"pw")
    out = crypto.convert(p12, to="pem", password=b"pw")
    assert out.startswith(pem(pki.leaf) + pem(pki.intermediate))
    assert b"-----BEGIN " + b"PRIVATE KEY-----" in out
    assert crypto.public_key_matches(crypto.load_private_key(out), pki.leaf)


def test_convert_pem_to_der_takes_first_certificate(pki: Pki) -> None:
    data = pem(pki.leaf) + pem(pki.intermediate)
    assert crypto.convert(data, to="der") == der(pki.leaf)


def test_convert_pem_bundle_to_pkcs12(pki: Pki) -> None:
    data = pem(pki.intermediate) + crypto.private_key_to_pem(pki.leaf_key, b"kp") + pem(pki.leaf)
    out = crypto.convert(data, to="pkcs12", password=b"pw", passphrase=b"kp")
    bundle = crypto.parse_pkcs12(out, b"pw")
    assert bundle.certificates == [pki.leaf, pki.intermediate]


def test_convert_to_pkcs12_explains_missing_parts(pki: Pki) -> None:
    with_key = pem(pki.leaf) + crypto.private_key_to_pem(pki.leaf_key)
    with pytest.raises(CryptoError, match="Enter a password"):
        crypto.convert(with_key, to="pkcs12")
    with pytest.raises(CryptoError, match="needs the private key"):
        crypto.convert(pem(pki.leaf), to="pkcs12", password=b"pw")
    with pytest.raises(CryptoError, match="Unknown target format 'jks'"):
        crypto.convert(pem(pki.leaf), to="jks")
    with pytest.raises(CryptoError, match="Wrong password for the PKCS#12"):
        p12 = crypto.to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"pw")
        crypto.convert(p12, to="pem", password=b"nope")


# --- robustness -------------------------------------------------------------------------------


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = [data[:n] for n in (1, 2, 4, 10, len(data) // 2, len(data) - 1)]
    flips = []
    for _ in range(12):
        position = rng.randrange(len(data))
        flips.append(data[:position] + bytes([rng.randrange(256)]) + data[position + 1 :])
    return cuts + flips


def test_public_parsers_raise_only_crypto_error_on_damaged_input(pki: Pki) -> None:
    rng = random.Random(1234)
    p12 = crypto.to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"a")
    samples = [
        der(pki.leaf),
        pem(pki.leaf),
        p12,
        pkcs7.serialize_certificates([pki.leaf], serialization.Encoding.DER),
        crypto.private_key_to_pem(pki.intermediate_key, b"pw"),
    ]
    parsers: list[Callable[[bytes], object]] = [
        crypto.parse_certificates,
        lambda d: crypto.load_private_key(d, b"pw"),
        crypto.load_csr,
        lambda d: crypto.parse_pkcs12(d, b"a"),
        crypto.parse_bundle,
        lambda d: crypto.convert(d, to="pem", password=b"a", passphrase=b"pw"),
    ]
    for sample in samples:
        for mutated in _mutations(sample, rng):
            for parse in parsers:
                with contextlib.suppress(CryptoError):  # anything else fails the test
                    parse(mutated)
