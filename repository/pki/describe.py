"""What a certificate, CSR or private key says, in the words the panel shows an admin.

Every public function raises ``CryptoError`` on a malformed input and never reveals key material.
Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from repository.errors import CryptoError
from repository.pki.chain import is_self_signed
from repository.pki.keytypes import PrivateKey, key_description, key_type_of
from repository.pki.parse import guard

_KEY_USAGE_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}


@dataclass(frozen=True)
class CertificateInfo:
    common_name: str
    sans: list[str]
    subject: str
    issuer: str
    issuer_common_name: str
    serial: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    fingerprint_sha1: str
    key_type: str
    signature_algorithm: str
    key_usage: list[str]
    extended_key_usage: list[str]
    is_ca: bool
    self_signed: bool

    @property
    def has_server_auth(self) -> bool:
        """No EKU extension means "any purpose", so TLS servers accept it."""
        usages = self.extended_key_usage
        return not usages or "serverAuth" in usages or "anyExtendedKeyUsage" in usages


_ExtensionT = TypeVar("_ExtensionT", bound=x509.ExtensionType)


def _extension(item: x509.Certificate | x509.CertificateSigningRequest, kind: type[_ExtensionT]) -> _ExtensionT | None:
    try:
        return item.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except (x509.DuplicateExtension, x509.UnsupportedGeneralNameType, ValueError) as exc:
        raise CryptoError("The certificate has a malformed extension.") from exc


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attributes = name.get_attributes_for_oid(oid)
    if not attributes:
        return ""
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _san_strings(item: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    san = _extension(item, x509.SubjectAlternativeName)
    if san is None:
        return []
    return [str(entry.value) for entry in san if isinstance(entry, (x509.DNSName, x509.IPAddress))]


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = oid._name  # cryptography has no public accessor for the short name
    return oid.dotted_string if name == "Unknown OID" else name


def _public_key_type(item: x509.Certificate | x509.CertificateSigningRequest) -> str:
    try:
        return key_type_of(item.public_key())
    except (ValueError, UnsupportedAlgorithm):
        return "unknown"  # e.g. GOST keys: still worth describing the rest


def _key_usage_names(cert: x509.Certificate) -> list[str]:
    usage = _extension(cert, x509.KeyUsage)
    if usage is None:
        return []
    names = [label for attr, label in _KEY_USAGE_NAMES if getattr(usage, attr)]
    # encipher_only/decipher_only raise unless keyAgreement is set.
    if usage.key_agreement:
        only = (("encipherOnly", usage.encipher_only), ("decipherOnly", usage.decipher_only))
        names += [label for label, present in only if present]
    return names


def fingerprint_sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@guard("The certificate could not be read.")
def describe_certificate(cert: x509.Certificate) -> CertificateInfo:
    eku = _extension(cert, x509.ExtendedKeyUsage)
    constraints = _extension(cert, x509.BasicConstraints)
    return CertificateInfo(
        common_name=_attribute(cert.subject, NameOID.COMMON_NAME),
        sans=_san_strings(cert),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        issuer_common_name=_attribute(cert.issuer, NameOID.COMMON_NAME)
        or _attribute(cert.issuer, NameOID.ORGANIZATION_NAME)
        or cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=fingerprint_sha256(cert),
        # SHA-1 only identifies the certificate for admins comparing with older tools.
        fingerprint_sha1=cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303
        key_type=_public_key_type(cert),
        signature_algorithm=_oid_name(cert.signature_algorithm_oid),
        key_usage=_key_usage_names(cert),
        extended_key_usage=[_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku or []],
        is_ca=bool(constraints and constraints.ca),
        self_signed=is_self_signed(cert),
    )


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def certificate_fields(cert: x509.Certificate) -> list[tuple[str, str]]:
    """A certificate as labelled rows, like `openssl x509 -text`: the toolbox and the certificate page show these."""
    info = describe_certificate(cert)
    return [
        ("Subject", info.subject),
        ("Issuer", info.issuer),
        ("Names (SAN)", ", ".join(info.sans) or "none"),
        ("Valid from", _when(info.not_before)),
        ("Valid until", _when(info.not_after)),
        ("Serial", info.serial),
        ("SHA-256 fingerprint", info.fingerprint_sha256),
        ("SHA-1 fingerprint", info.fingerprint_sha1),
        ("Key", key_description(info.key_type)),
        ("Signature algorithm", info.signature_algorithm),
        ("Key usage", ", ".join(info.key_usage) or "not restricted"),
        ("Extended key usage", ", ".join(info.extended_key_usage) or "not restricted"),
        ("CA", "yes" if info.is_ca else "no"),
        ("Self-signed", "yes" if info.self_signed else "no"),
    ]


class CsrFacts(TypedDict):
    subject: str
    common_name: str
    sans: list[str]
    key_type: str
    signature_valid: bool
    signature_algorithm: str


@guard("The certificate signing request could not be read.")
def describe_csr(csr: x509.CertificateSigningRequest) -> CsrFacts:
    return {
        "subject": csr.subject.rfc4514_string(),
        "common_name": _attribute(csr.subject, NameOID.COMMON_NAME),
        "sans": _san_strings(csr),
        "key_type": _public_key_type(csr),
        "signature_valid": csr.is_signature_valid,
        "signature_algorithm": _oid_name(csr.signature_algorithm_oid),
    }


@guard("The private key could not be read.")
def describe_private_key(key: PrivateKey) -> dict[str, object]:
    """Identifying facts only; never key material."""
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"key_type": key_type_of(key), "public_key_sha256": hashlib.sha256(spki).hexdigest()}
