"""New private keys, self-signed certificates and CSRs, with errors an admin can act on.

Every public function raises ``CryptoError`` (never a raw ValueError/TypeError/UnsupportedAlgorithm) and no
message ever contains key material. Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from repository.errors import CryptoError
from repository.pki.dates import as_utc
from repository.pki.hostnames import is_ip_address, normalize_hostname
from repository.pki.keytypes import KEY_TYPES, PrivateKey
from repository.pki.parse import guard, supported_key

_NAMED_CURVES: dict[str, ec.EllipticCurve] = {"ec256": ec.SECP256R1(), "ec384": ec.SECP384R1()}

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


@guard("The certificate's subject could not be read.")
def subject_fields_of(cert: x509.Certificate) -> SubjectFields:
    """The subject of an issued certificate as the fields of a new CSR (first value of each attribute); a subject
    without a common name takes the first DNS name, as CAs that issue such certificates did."""
    values: dict[str, str] = {}
    for field, oid, _label, _limit in _SUBJECT_ATTRIBUTES:
        attributes = cert.subject.get_attributes_for_oid(oid)
        if attributes and isinstance(attributes[0].value, str):
            values[field] = attributes[0].value
    if not values.get("common_name"):
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            names = x509.SubjectAlternativeName([])
        dns = names.get_values_for_type(x509.DNSName)
        if not dns:
            raise CryptoError("This certificate names no host (no common name, no DNS name): write a new CSR.")
        values["common_name"] = dns[0]
    return SubjectFields(**values)


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
def create_csr(
    *, key: PrivateKey, subject: SubjectFields, sans: Sequence[str], common_name: bool = True
) -> x509.CertificateSigningRequest:
    """``common_name=False``: the subject leaves the Common Name out (the name is still the first SAN), for CA
    profiles that issue without one (Let's Encrypt's tlsserver and shortlived)."""
    key = supported_key(key)
    name = _subject_name(subject)
    if not common_name:
        name = x509.Name([attribute for attribute in name if attribute.oid != NameOID.COMMON_NAME])
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .add_extension(_san_extension(subject.common_name, sans), critical=False)
    )
    return builder.sign(key, _signing_hash(key))
