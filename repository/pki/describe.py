"""What a certificate, CSR or private key says, in the words the panel shows an admin.

``describe_certificate`` is strict: it reads everything through ``safe`` and raises ``CryptoError`` with the first
part that cannot be read (an import must not store half a certificate). ``certificate_fields`` shows what it can:
a row that cannot be read says why, and the others are still shown. Never reveals key material.
Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from repository.errors import CryptoError
from repository.pki import safe
from repository.pki.chain import display_name, is_self_signed
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


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attributes = name.get_attributes_for_oid(oid)
    if not attributes:
        return ""
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _san_strings(item: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    san = safe.extension(item, x509.SubjectAlternativeName)
    if san is None:
        return []
    return [str(entry.value) for entry in san if isinstance(entry, (x509.DNSName, x509.IPAddress))]


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = oid._name  # cryptography has no public accessor for the short name
    return oid.dotted_string if name == "Unknown OID" else name


def _key_usage_names(cert: x509.Certificate) -> list[str]:
    usage = safe.extension(cert, x509.KeyUsage)
    if usage is None:
        return []
    names = [label for attr, label in _KEY_USAGE_NAMES if getattr(usage, attr)]
    # encipher_only/decipher_only raise unless keyAgreement is set.
    if usage.key_agreement:
        only = (("encipherOnly", usage.encipher_only), ("decipherOnly", usage.decipher_only))
        names += [label for label, present in only if present]
    return names


def _extended_key_usage(cert: x509.Certificate) -> list[str]:
    return [_EKU_NAMES.get(oid, oid.dotted_string) for oid in safe.extension(cert, x509.ExtendedKeyUsage) or []]


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = safe.extension(cert, x509.BasicConstraints)
    return bool(constraints and constraints.ca)


def _issuer_common_name(cert: x509.Certificate) -> str:
    issuer = safe.issuer(cert)
    common_name = _attribute(issuer, NameOID.COMMON_NAME) or _attribute(issuer, NameOID.ORGANIZATION_NAME)
    return common_name or safe.name_text(issuer)


def fingerprint_sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _fingerprint_sha1(cert: x509.Certificate) -> str:
    # SHA-1 only identifies the certificate for admins comparing with older tools.
    return cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303


def _serial(cert: x509.Certificate) -> str:
    return format(safe.serial_number(cert), "x")


@guard("The certificate could not be read.")
def describe_certificate(cert: x509.Certificate) -> CertificateInfo:
    """Everything the panel stores and shows about a certificate; CryptoError naming the first unreadable part."""
    return CertificateInfo(
        common_name=_attribute(safe.subject(cert), NameOID.COMMON_NAME),
        sans=_san_strings(cert),
        subject=safe.subject_text(cert),
        issuer=safe.issuer_text(cert),
        issuer_common_name=_issuer_common_name(cert),
        serial=_serial(cert),
        not_before=safe.not_before(cert),
        not_after=safe.not_after(cert),
        fingerprint_sha256=fingerprint_sha256(cert),
        fingerprint_sha1=_fingerprint_sha1(cert),
        key_type=key_type_of(safe.public_key(cert)),
        signature_algorithm=_oid_name(cert.signature_algorithm_oid),
        key_usage=_key_usage_names(cert),
        extended_key_usage=_extended_key_usage(cert),
        is_ca=_is_ca(cert),
        self_signed=is_self_signed(cert),
    )


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _shown(read: Callable[[], str]) -> str:
    """A row's value, or why it cannot be shown: the rest of the certificate is still worth reading."""
    try:
        return read()
    except CryptoError as exc:
        return f"cannot be shown: {exc}"
    except safe.FAILURES:
        return "cannot be shown: this part of the certificate is malformed."


def certificate_fields(cert: x509.Certificate) -> list[tuple[str, str]]:
    """A certificate as labelled rows, like `openssl x509 -text`: the toolbox and the certificate page show these.

    Shows what it can decode: a part that cannot be read says why in its row instead of failing the page."""
    rows: list[tuple[str, Callable[[], str]]] = [
        ("Subject", lambda: safe.subject_text(cert)),
        ("Issuer", lambda: safe.issuer_text(cert)),
        ("Names (SAN)", lambda: ", ".join(_san_strings(cert)) or "none"),
        ("Valid from", lambda: _when(safe.not_before(cert))),
        ("Valid until", lambda: _when(safe.not_after(cert))),
        ("Serial", lambda: _serial(cert)),
        ("SHA-256 fingerprint", lambda: fingerprint_sha256(cert)),
        ("SHA-1 fingerprint", lambda: _fingerprint_sha1(cert)),
        ("Key", lambda: key_description(key_type_of(safe.public_key(cert)))),
        ("Signature algorithm", lambda: _oid_name(cert.signature_algorithm_oid)),
        ("Key usage", lambda: ", ".join(_key_usage_names(cert)) or "not restricted"),
        ("Extended key usage", lambda: ", ".join(_extended_key_usage(cert)) or "not restricted"),
        ("CA", lambda: _yes_no(_is_ca(cert))),
        ("Self-signed", lambda: _yes_no(is_self_signed(cert))),
    ]
    return [(label, _shown(read)) for label, read in rows]


def certificate_problem(cert: x509.Certificate) -> str | None:
    """Why ``describe_certificate`` would refuse this certificate, or None when every part can be read."""
    try:
        describe_certificate(cert)
    except CryptoError as exc:
        return str(exc)
    return None


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
        "subject": safe.subject_text(csr),
        "common_name": _attribute(safe.subject(csr), NameOID.COMMON_NAME),
        "sans": _san_strings(csr),
        "key_type": key_type_of(safe.public_key(csr)),
        "signature_valid": csr.is_signature_valid,
        "signature_algorithm": _oid_name(csr.signature_algorithm_oid),
    }


@guard("The private key could not be read.")
def describe_private_key(key: PrivateKey) -> dict[str, object]:
    """Identifying facts only; never key material."""
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"key_type": key_type_of(key), "public_key_sha256": hashlib.sha256(spki).hexdigest()}


def require_readable(certificates: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The certificates themselves when the panel can read every part of each; else CryptoError naming the first
    that it cannot and why ("this certificate uses a key type the panel does not support: …")."""
    for number, cert in enumerate(certificates, 1):
        problem = certificate_problem(cert)
        if problem is not None:
            if len(certificates) == 1:
                raise CryptoError(problem)
            raise CryptoError(f"Certificate {number} of {len(certificates)} ({display_name(cert)}): {problem}")
    return list(certificates)
