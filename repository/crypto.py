"""Keys, certificates, CSRs and PKCS#12 for the panel, with errors an admin can act on.

No Django here: only ``cryptography`` and the stdlib. Every public function raises
``CryptoError`` (never a raw ValueError/TypeError/UnsupportedAlgorithm) and no message ever
contains key material. Reading uploads lives in ``repository.parsing``, hostname checks in
``repository.hostnames`` and chain helpers in ``repository.chain``; all are re-exported here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from repository.chain import (
    aia_ca_issuers_urls,
    as_utc,
    display_name,
    is_self_signed,
    missing_issuer,
    order_chain,
    path_ends_at_root,
    public_key_matches,
    verify_chain,
)
from repository.errors import CryptoError
from repository.hostnames import is_ip_address, normalize_hostname
from repository.parsing import (
    Bundle,
    PrivateKey,
    PublicKey,
    guard,
    load_csr,
    load_private_key,
    looks_like_pkcs12,
    parse_bundle,
    parse_certificates,
    parse_pkcs12,
    supported_key,
)

__all__ = [
    "KEY_TYPES", "Bundle", "CertificateInfo", "PrivateKey", "PublicKey", "SubjectFields",
    "aia_ca_issuers_urls", "certificate_to_der", "certificate_to_pem", "certificates_to_pem",
    "convert", "create_csr", "create_self_signed", "csr_to_pem", "describe_certificate",
    "describe_csr", "describe_private_key", "display_name", "fingerprint_sha256",
    "generate_private_key", "is_ip_address", "is_self_signed", "key_description", "key_type_of",
    "load_csr", "load_private_key", "looks_like_pkcs12", "missing_issuer", "normalize_hostname",
    "order_chain", "parse_bundle", "parse_certificates", "parse_pkcs12", "path_ends_at_root",
    "private_key_to_pem", "private_key_to_traditional_pem", "public_key_matches", "to_pkcs12",
    "verify_chain",
]  # fmt: skip

KEY_TYPES: dict[str, str] = {
    "rsa2048": "RSA 2048",
    "rsa3072": "RSA 3072",
    "rsa4096": "RSA 4096",
    "ec256": "ECDSA P-256",
    "ec384": "ECDSA P-384",
}
_NAMED_CURVES: dict[str, ec.EllipticCurve] = {"ec256": ec.SECP256R1(), "ec384": ec.SECP384R1()}
_NIST_CURVES = {"secp256r1", "secp384r1", "secp521r1"}

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_MAX_DAYS = 3650
_CLOCK_SKEW = timedelta(minutes=5)


# --- keys -------------------------------------------------------------------------------------


@guard("The key could not be generated.")
def generate_private_key(key_type: str) -> PrivateKey:
    if key_type not in KEY_TYPES:
        raise CryptoError(f"Unknown key type '{key_type}': choose one of {', '.join(KEY_TYPES)}.")
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    return ec.generate_private_key(_NAMED_CURVES[key_type])


def key_type_of(key: PrivateKey | PublicKey) -> str:
    """Short key type code such as "rsa2048", "ec256" or "ed25519"."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"rsa{key.key_size}"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        # Only the NIST curves are unambiguous by size (secp256k1 is also 256 bits).
        if key.curve.name in _NIST_CURVES:
            return f"ec{key.curve.key_size}"
        return f"ec-{key.curve.name}"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    if isinstance(key, (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)):
        return "ed448"
    if isinstance(key, (dsa.DSAPrivateKey, dsa.DSAPublicKey)):
        return f"dsa{key.key_size}"
    return "unknown"


def key_description(key_type: str) -> str:
    """Human label for a key type code, including codes outside KEY_TYPES."""
    if key_type in KEY_TYPES:
        return KEY_TYPES[key_type]
    match = re.fullmatch(r"(rsa|dsa|ec)(\d+)", key_type)
    if match:
        family, bits = match.groups()
        return {"rsa": f"RSA {bits}", "dsa": f"DSA {bits}", "ec": f"ECDSA P-{bits}"}[family]
    if key_type.startswith("ec-"):
        return f"ECDSA {key_type[3:]}"
    return {"ed25519": "Ed25519", "ed448": "Ed448"}.get(key_type, key_type)


@guard("The private key could not be exported.")
def private_key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM; an empty passphrase means no encryption."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@guard("The private key could not be exported.")
def private_key_to_traditional_pem(key: PrivateKey) -> bytes:
    """Unencrypted "BEGIN RSA/EC PRIVATE KEY" for daemons that still insist on it."""
    # Ed25519 has no traditional format; PKCS#8 is the only PEM form it has.
    fmt = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


# --- subject alternative names ----------------------------------------------------------------


def _unique_names(names: Iterable[str]) -> list[str]:
    result: list[str] = []
    for name in names:
        if name.strip():  # blank lines from a textarea are not names
            normalized = normalize_hostname(name)
            if normalized not in result:
                result.append(normalized)
    return result


def _san_extension(common_name: str, sans: Sequence[str]) -> x509.SubjectAlternativeName:
    # A lone str is one name, not a sequence of one-letter names.
    extra = [sans] if isinstance(sans, str) else list(sans)
    entries: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(name)) if is_ip_address(name) else x509.DNSName(name)
        for name in _unique_names([common_name, *extra])
    ]
    return x509.SubjectAlternativeName(entries)


# --- certificates and CSRs --------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectFields:
    common_name: str
    organization: str = ""
    organizational_unit: str = ""
    locality: str = ""
    state: str = ""
    country: str = ""
    email: str = ""


# (field, OID, label, RFC 5280 upper bound) in the conventional C ... CN order.
_SUBJECT_ATTRIBUTES: tuple[tuple[str, x509.ObjectIdentifier, str, int], ...] = (
    ("country", NameOID.COUNTRY_NAME, "Country", 2),
    ("state", NameOID.STATE_OR_PROVINCE_NAME, "State", 128),
    ("locality", NameOID.LOCALITY_NAME, "Locality", 128),
    ("organization", NameOID.ORGANIZATION_NAME, "Organization", 64),
    ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME, "Organizational unit", 64),
    ("common_name", NameOID.COMMON_NAME, "Common name", 64),
    ("email", NameOID.EMAIL_ADDRESS, "Email", 128),
)


def _subject_value(field: str, raw: str) -> str:
    value = raw.strip()
    if field == "common_name":
        return normalize_hostname(value)
    if field == "country" and value and not (len(value) == 2 and value.isascii() and value.isalpha()):
        raise CryptoError("Country must be a two-letter code such as DE.")
    if field == "email" and value and not (value.isascii() and _EMAIL.fullmatch(value)):
        raise CryptoError(f"'{value[:80]}' is not a valid email address.")
    return value.upper() if field == "country" else value


def _subject_name(fields: SubjectFields) -> x509.Name:
    attributes: list[x509.NameAttribute[str]] = []
    for field, oid, label, limit in _SUBJECT_ATTRIBUTES:
        value = _subject_value(field, getattr(fields, field))
        if len(value) > limit:
            raise CryptoError(f"{label} may be at most {limit} characters.")
        if value:
            attributes.append(x509.NameAttribute(oid, value))
    return x509.Name(attributes)


def _signing_hash(key: PrivateKey) -> hashes.SHA256 | None:
    # EdDSA hashes internally; cryptography requires None for it.
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


@guard("The self-signed certificate could not be created.")
def create_self_signed(
    *, key: PrivateKey, common_name: str, sans: Sequence[str], days: int, now: datetime | None = None
) -> x509.Certificate:
    key = supported_key(key)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= _MAX_DAYS:
        raise CryptoError(f"Validity must be between 1 and {_MAX_DAYS} days.")
    name = _subject_name(SubjectFields(common_name=common_name))
    start = as_utc(now)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),  # only RSA key transport uses it
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - _CLOCK_SKEW)  # tolerate peers whose clock runs slightly behind
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(eku, critical=False)
        .add_extension(_san_extension(common_name, sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, _signing_hash(key))


@guard("The certificate signing request could not be created.")
def create_csr(*, key: PrivateKey, subject: SubjectFields, sans: Sequence[str]) -> x509.CertificateSigningRequest:
    key = supported_key(key)
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_subject_name(subject))
        .add_extension(_san_extension(subject.common_name, sans), critical=False)
    )
    return builder.sign(key, _signing_hash(key))


def csr_to_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


# --- describing -------------------------------------------------------------------------------


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


# --- export -----------------------------------------------------------------------------------


def certificate_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def certificates_to_pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(certificate_to_pem(cert).rstrip(b"\n") + b"\n" for cert in certs)


def certificate_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@guard("The PKCS#12 file could not be created.")
def to_pkcs12(
    *,
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes,
) -> bytes:
    if not password:
        raise CryptoError("Enter a password for the PKCS#12 file.")
    if not public_key_matches(key, cert):
        raise CryptoError("The private key does not match the certificate.")
    # PBES2 + AES-256 + SHA-256 MAC: what OpenSSL 3 and current Windows/macOS import.
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode("utf-8") or None, supported_key(key), cert, list(chain) or None, encryption
    )


def _read_any(data: bytes, password: bytes | None, passphrase: bytes | None) -> Bundle:
    if looks_like_pkcs12(bytes(data)):
        return parse_pkcs12(data, password)
    return parse_bundle(data, passphrase)


@guard("The conversion failed.")
def convert(data: bytes, *, to: str, password: bytes | None = None, passphrase: bytes | None = None) -> bytes:
    """Toolbox: any certificate/key container to "pem", "der" or "pkcs12".

    ``password`` protects PKCS#12 (read and written), ``passphrase`` a PEM private key.
    """
    if to not in ("pem", "der", "pkcs12"):
        raise CryptoError(f"Unknown target format '{to}': choose pem, der or pkcs12.")
    bundle = _read_any(data, password, passphrase)
    if to == "der":
        return certificate_to_der(bundle.certificates[0])
    if to == "pem":
        key_pem = private_key_to_pem(bundle.key) if bundle.key is not None else b""
        return certificates_to_pem(bundle.certificates) + key_pem
    if bundle.key is None:
        raise CryptoError("Converting to PKCS#12 needs the private key together with the certificate.")
    if not password:
        raise CryptoError("Enter a password for the PKCS#12 file.")
    leaf, chain = order_chain(bundle.certificates, leaf_key=bundle.key)
    return to_pkcs12(name=display_name(leaf), key=bundle.key, cert=leaf, chain=chain, password=password)
