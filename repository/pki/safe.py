"""Reading a loaded certificate or CSR without letting ``cryptography``'s lazy parsing escape.

``cryptography`` decodes most of a certificate only when it is first read, and each of those reads can raise on a
certificate from the wild: ``public_key()`` on a GOST key, ``extensions`` on an x400Address name, ``subject`` and
``issuer`` on a malformed name encoding. Every pki module reads through these functions instead: each returns the
value or raises ``CryptoError`` with a sentence an admin can act on. ``subject_der``/``issuer_der`` read the names'
raw bytes, which never fail, so chains can still be put in order around an unreadable name.

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from repository.errors import CryptoError
from repository.pki import der
from repository.pki.keytypes import PublicKey
from repository.pki.limits import public_key_problem

# Everything cryptography raises when a certificate, CSR or key is unusual.
FAILURES = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    InvalidSignature,
    x509.UnsupportedGeneralNameType,
    x509.DuplicateExtension,
    x509.InvalidVersion,
)

Item = x509.Certificate | x509.CertificateSigningRequest
_ExtensionT = TypeVar("_ExtensionT", bound=x509.ExtensionType)

_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_KEY_ALGORITHMS = {
    "1.2.643.2.2.19": "GOST R 34.10-2001",
    "1.2.643.7.1.1.1.1": "GOST R 34.10-2012 (256 bits)",
    "1.2.643.7.1.1.1.2": "GOST R 34.10-2012 (512 bits)",
    "1.2.156.10197.1.301": "SM2",
    "1.2.840.10046.2.1": "Diffie-Hellman",
    "1.2.840.113549.1.3.1": "Diffie-Hellman",
    "1.2.840.113549.1.1.10": "RSA-PSS",
    "1.2.840.113549.1.1.7": "RSA-OAEP",
    "1.3.101.111": "X448",
    "1.3.101.110": "X25519",
}
_CURVES = {
    "1.2.156.10197.1.301": "SM2",
    "1.2.643.7.1.2.1.1.1": "GOST 256-bit",
    "1.3.132.0.39": "sect571r1",
    "1.3.132.0.38": "sect571k1",
    "1.3.132.0.37": "sect409r1",
    "1.3.132.0.36": "sect409k1",
    "1.3.132.0.27": "sect283r1",
    "1.3.132.0.26": "sect233k1",
    "1.3.132.0.1": "sect163k1",
}


def _what(item: Item) -> str:
    return "certificate" if isinstance(item, x509.Certificate) else "certificate signing request"


def _tbs(item: Item, levels: int) -> der.Element:
    data = item.tbs_certificate_bytes if isinstance(item, x509.Certificate) else item.tbs_certrequest_bytes
    try:
        return der.parse(data, levels=levels)
    except der.DerError:
        raise CryptoError(f"This {_what(item)} is damaged: its structure cannot be read.") from None


def _tbs_fields(cert: x509.Certificate, levels: int = 1) -> tuple[der.Element, ...]:
    """TBSCertificate's fields from the serial on: serial, signature, issuer, validity, subject, key, ..."""
    fields = _tbs(cert, levels).children
    fields = fields[1:] if fields and fields[0].tag == 0xA0 else fields  # [0] version, absent for v1
    if len(fields) < 6:
        raise CryptoError("This certificate is damaged: its structure cannot be read.")
    return fields


def issuer_der(cert: x509.Certificate) -> bytes:
    """The issuer name's encoding as the certificate carries it: what chains are matched on."""
    return _tbs_fields(cert)[2].content


def subject_der(cert: x509.Certificate) -> bytes:
    return _tbs_fields(cert)[4].content


def _spki_algorithm(item: Item) -> tuple[str, str | None]:
    """(key algorithm OID, parameter OID such as the curve, if any) from the raw SubjectPublicKeyInfo."""
    if isinstance(item, x509.Certificate):
        spki = _tbs_fields(item, levels=3)[5]
    else:  # CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes }
        fields = _tbs(item, levels=3).children
        if len(fields) < 3:
            raise CryptoError("This certificate signing request is damaged: its structure cannot be read.")
        spki = fields[2]
    try:
        algorithm = spki.children[0]
        oid = der.oid_text(algorithm.children[0])
        parameter = algorithm.children[1] if len(algorithm.children) > 1 else None
        return oid, der.oid_text(parameter) if parameter is not None and parameter.tag == der.OID else None
    except (der.DerError, IndexError):
        raise CryptoError(f"This {_what(item)}'s public key is damaged.") from None


def key_algorithm_label(item: Item) -> str:
    """What the key is, from its raw encoding, for a key cryptography cannot load: "GOST R 34.10-2001 (1.2.…)"."""
    oid, parameter = _spki_algorithm(item)
    if oid == _EC_PUBLIC_KEY and parameter:
        curve = _CURVES.get(parameter)
        return f"ECDSA on the curve {curve} ({parameter})" if curve else f"ECDSA on the curve {parameter}"
    name = _KEY_ALGORITHMS.get(oid)
    return f"{name} ({oid})" if name else f"the algorithm {oid}"


def public_key(item: Item) -> PublicKey:
    """The public key; CryptoError naming the key type when the panel cannot use it."""
    try:
        key = item.public_key()
    except UnsupportedAlgorithm:
        raise CryptoError(
            f"This {_what(item)} uses a key type the panel does not support: {key_algorithm_label(item)}."
        ) from None
    except FAILURES:
        raise CryptoError(f"This {_what(item)}'s public key is damaged.") from None
    problem = public_key_problem(key)
    if problem:
        raise CryptoError(f"This {_what(item)} has {problem}.")
    return key


def extensions(item: Item) -> x509.Extensions:
    try:
        return item.extensions
    except x509.UnsupportedGeneralNameType:
        raise CryptoError(
            f"This {_what(item)} has a name of a type the panel cannot read (x400Address or ediPartyName)."
        ) from None
    except x509.DuplicateExtension as exc:
        raise CryptoError(f"This {_what(item)} has the extension {exc.oid.dotted_string} twice.") from None
    except FAILURES:
        raise CryptoError(f"This {_what(item)} has an extension the panel cannot read (malformed).") from None


def extension(item: Item, kind: type[_ExtensionT]) -> _ExtensionT | None:
    """The value of one extension, None when absent."""
    try:
        return extensions(item).get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def subject(item: Item) -> x509.Name:
    try:
        return item.subject
    except FAILURES:
        raise CryptoError(f"This {_what(item)}'s subject name is malformed and cannot be read.") from None


def issuer(cert: x509.Certificate) -> x509.Name:
    try:
        return cert.issuer
    except FAILURES:
        raise CryptoError("This certificate's issuer name is malformed and cannot be read.") from None


def name_text(name: x509.Name) -> str:
    """RFC 4514 text of a name that could be read."""
    try:
        return name.rfc4514_string()
    except FAILURES:
        raise CryptoError("A name in this certificate cannot be shown (malformed value).") from None


def subject_text(item: Item) -> str:
    return name_text(subject(item))


def issuer_text(cert: x509.Certificate) -> str:
    return name_text(issuer(cert))


def not_before(cert: x509.Certificate) -> datetime:
    try:
        return cert.not_valid_before_utc
    except FAILURES:
        raise CryptoError("This certificate's validity dates are malformed.") from None


def not_after(cert: x509.Certificate) -> datetime:
    try:
        return cert.not_valid_after_utc
    except FAILURES:
        raise CryptoError("This certificate's validity dates are malformed.") from None


def serial_number(cert: x509.Certificate) -> int:
    try:
        return cert.serial_number
    except FAILURES:
        raise CryptoError("This certificate's serial number is malformed.") from None


def check_certificate(cert: x509.Certificate) -> x509.Certificate:
    """The certificate itself when every part the panel stores and shows can be read; else the first problem."""
    public_key(cert)
    extensions(cert)
    subject_text(cert)
    issuer_text(cert)
    not_before(cert)
    not_after(cert)
    serial_number(cert)
    return cert
