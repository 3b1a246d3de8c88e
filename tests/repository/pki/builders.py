"""Keys and certificates for the pki tests, built at test time: a small CA (root -> intermediate -> leaf)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from repository.pki.keytypes import PrivateKey, PublicKey

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
NOW = datetime.now(UTC)
AIA_URL = "http://ca.example.test/intermediate.cer"


def x509_name(common_name: str, organization: str = "Test PKI") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue(
    *,
    subject: x509.Name,
    public_key: PublicKey,
    issuer: x509.Name,
    signing_key: PrivateKey,
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
        subject=x509_name(root_cn),
        public_key=root_key.public_key(),
        issuer=x509_name(root_cn),
        signing_key=root_key,
        ca=True,
        eku=None,
    )
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    intermediate = issue(
        subject=x509_name(f"{root_cn} Intermediate"),
        public_key=intermediate_key.public_key(),
        issuer=root.subject,
        signing_key=root_key,
        ca=True,
        eku=None,
    )
    leaf = issue(
        subject=x509_name("mail.example.com"),
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
