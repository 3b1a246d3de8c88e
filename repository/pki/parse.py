"""Reading uploads: PEM/DER scanning, certificates, bundles, PKCS#12, CSRs and private keys.

Also ``guard``, the decorator every pki module uses to turn a stray cryptography exception into a
``CryptoError``. Bounded (see ``limits``): at most ``MAX_CERTIFICATES`` certificates per upload, counted before they
are decoded; PKCS#12 files and encrypted keys whose password hashing would cost too much are refused before it
runs; RSA private keys are checked in Python, not by OpenSSL's primality tests (10 s for an 8192-bit key).
Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from repository.errors import CryptoError
from repository.pki import der, limits, pkcs12, safe
from repository.pki.chain import unique_certificates
from repository.pki.keytypes import PrivateKey
from repository.pki.match import certificate_has_key

_KEY_ENCRYPTED = "The private key is encrypted: enter its passphrase."
_WRONG_PASSPHRASE = "Wrong passphrase for the private key."
_ONLY_SUPPORTED = "Only RSA, ECDSA and Ed25519 private keys are supported."
# rsaEncryption, RSASSA-PSS, id-ecPublicKey, Ed25519: what supported_key accepts, by PKCS#8 algorithm.
_SUPPORTED_KEY_ALGORITHMS = frozenset(
    {"1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10", "1.2.840.10045.2.1", "1.3.101.112"}
)
_NO_KEY = "No private key found: expected a PEM or DER private key."
_NOT_CERT = "This is not a certificate: expected PEM, DER or PKCS#7."
_NOT_P12 = pkcs12.NOT_PKCS12
_CERT_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
_PKCS7_LABELS = frozenset({"PKCS7", "PKCS #7 SIGNED DATA", "CMS"})
_CSR_LABELS = frozenset({"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"})
_KEY_LABELS = frozenset(
    {"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}
    | {"DSA PRIVATE KEY", "OPENSSH PRIVATE KEY"}
)
_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def guard(message: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Turn any stray cryptography exception into a CryptoError with an admin-readable message."""

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return func(*args, **kwargs)
            except safe.FAILURES as exc:
                raise CryptoError(message) from exc

        return wrapper

    return decorate


# --- private keys -----------------------------------------------------------------------------


def _check_rsa(key: rsa.RSAPrivateKey) -> None:
    """The key's parts fit together: what OpenSSL's check finds in a damaged key, without its primality tests."""
    if key.key_size > limits.MAX_RSA_BITS:
        raise CryptoError(
            f"This RSA private key has {key.key_size} bits; the panel handles RSA keys of up to "
            f"{limits.MAX_RSA_BITS} bits."
        )
    numbers = key.private_numbers()
    p, q, d, e = numbers.p, numbers.q, numbers.d, numbers.public_numbers.e
    half = key.key_size // 2 - 64  # the primes are about half the modulus each; no primality test (too slow)
    lcm = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1) if p > 2 and q > 2 else 0
    consistent = (
        lcm > 0
        and p % 2 == q % 2 == 1
        and min(p.bit_length(), q.bit_length()) >= half
        and p * q == numbers.public_numbers.n
        and (d * e) % lcm == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and (numbers.iqmp * q) % p == 1
    )
    if not consistent:
        raise CryptoError("The RSA private key is damaged: its parts do not fit together.")


def supported_key(key: object) -> PrivateKey:
    """The key itself when the panel can use it, else a CryptoError naming the supported types."""
    if isinstance(key, rsa.RSAPrivateKey):
        _check_rsa(key)
        return key
    if isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        return key
    raise CryptoError(_ONLY_SUPPORTED)


def _key_shape(data: bytes) -> str | None:
    """What a DER private key is, read before any loader runs: "encrypted" (PKCS#8 EncryptedPrivateKeyInfo),
    "supported", "unsupported" (a type the panel does not use: loading DH or DSA keys runs OpenSSL's parameter
    checks, which a crafted prime makes slow), or None when it is not a private key's shape."""
    try:
        fields = der.parse_prefix(data, levels=2).children
    except der.DerError:
        return None
    tags = [field.tag for field in fields]
    if tags[:2] == [der.SEQUENCE, der.OCTET_STRING] and len(fields) == 2:
        return "encrypted"
    if tags[:3] == [der.INTEGER, der.SEQUENCE, der.OCTET_STRING]:  # PrivateKeyInfo
        return "supported" if der.algorithm_oid(fields[1]) in _SUPPORTED_KEY_ALGORITHMS else "unsupported"
    if len(tags) in (6, 9) and all(tag == der.INTEGER for tag in tags):  # traditional: RSA has 9 integers, DSA 6
        return "supported" if len(tags) == 9 else "unsupported"
    if tags[:2] == [der.INTEGER, der.OCTET_STRING]:  # traditional EC (RFC 5915)
        return "supported"
    return None


def _open_key(
    load: Callable[[bytes | None], object], passphrase: bytes | None, damaged: str, key_der: bytes | None
) -> PrivateKey:
    """Load without a password first: that is how cryptography tells us the key is encrypted.

    ``key_der`` is the key's DER (None for the legacy PEM encryption, which hashes once): its type is read before
    anything loads it, and an encrypted PKCS#8 key is decrypted here within the password-hashing limits.
    """
    shape = _key_shape(key_der) if key_der is not None else None
    if shape == "unsupported":
        raise CryptoError(_ONLY_SUPPORTED)
    if shape != "encrypted":
        try:
            return supported_key(load(None))
        except TypeError:
            pass  # encrypted; a passphrase for an unencrypted key is simply not needed
        except ValueError as exc:
            raise CryptoError(damaged) from exc
    if not passphrase:
        raise CryptoError(_KEY_ENCRYPTED)
    if key_der is not None and shape == "encrypted":
        limits.refuse_costly_key_derivation(key_der, what="private key")
        try:
            plain = pkcs12.decrypt_private_key(key_der, passphrase)
        except pkcs12.WrongPassword:
            raise CryptoError(_WRONG_PASSPHRASE) from None
        if plain is not None:
            return _open_decrypted(plain)
    try:
        return supported_key(load(passphrase))
    except ValueError as exc:
        raise CryptoError(_WRONG_PASSPHRASE) from exc


def _open_decrypted(plain: bytes) -> PrivateKey:
    """A PrivateKeyInfo this module decrypted: garbage here means the passphrase was wrong after all."""
    shape = _key_shape(plain)
    if shape == "unsupported":
        raise CryptoError(_ONLY_SUPPORTED)
    if shape is None:
        raise CryptoError(_WRONG_PASSPHRASE)
    try:
        return supported_key(_load_der_key(plain, None))
    except (ValueError, TypeError):
        raise CryptoError(_WRONG_PASSPHRASE) from None


def _load_der_key(data: bytes, password: bytes | None) -> object:
    # OpenSSL's RSA check runs primality tests (0.6 s for 4096 bits, 10 s for 8192): _check_rsa replaces it.
    return serialization.load_der_private_key(data, password, unsafe_skip_rsa_key_validation=True)


def _load_pem_key(data: bytes, password: bytes | None) -> object:
    return serialization.load_pem_private_key(data, password, unsafe_skip_rsa_key_validation=True)


@guard("This private key type or its encryption is not supported.")
def load_private_key(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """Load a PEM or DER private key, also from a combined certificate + key PEM."""
    data = _prepare(data)
    if not _is_pem(data):
        return _open_key(lambda pw: _load_der_key(data, pw), passphrase, _NO_KEY, data)
    return _load_key_block(_single_key_block(_pem_blocks(data)), passphrase)


def _single_key_block(blocks: list[_PemBlock]) -> _PemBlock:
    keys = [block for block in blocks if block.label in _KEY_LABELS]
    if not keys:
        raise CryptoError(_NO_KEY)
    if len(keys) > 1:
        raise CryptoError("The data holds more than one private key; upload exactly one.")
    return keys[0]


def _load_key_block(block: _PemBlock, passphrase: bytes | None) -> PrivateKey:
    if block.label == "OPENSSH PRIVATE KEY":
        raise CryptoError("OpenSSH private keys are not supported: convert with 'ssh-keygen -p -m PKCS8 -f FILE'.")
    if block.label == "DSA PRIVATE KEY":
        raise CryptoError(_ONLY_SUPPORTED)
    key_der = _block_der(block, "private key")
    damaged = "The private key PEM block is damaged (bad base64 or DER)."
    if not block.headers:
        return _open_key(lambda pw: _load_der_key(key_der, pw), passphrase, damaged, key_der)
    # Legacy "Proc-Type: 4,ENCRYPTED" keys need their DEK-Info header, so only the PEM loader works.
    pem = _rebuild_pem(block)
    return _open_key(lambda pw: _load_pem_key(pem, pw), passphrase, damaged, None)


# --- PEM scanning -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _PemBlock:
    label: str
    headers: tuple[str, ...]
    body: str  # base64 with all whitespace removed


def _prepare(data: bytes) -> bytes:
    # Windows editors prepend a UTF-8 BOM.
    data = bytes(data).removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        raise CryptoError("The input is empty.")
    return data


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def _pem_blocks(data: bytes) -> list[_PemBlock]:
    """All PEM blocks in order; text around and between them (comments, Bag Attributes) ignored."""
    blocks: list[_PemBlock] = []
    for match in _BEGIN.finditer(data):
        label = match.group(1).decode("ascii")
        end_marker = f"-----END {label}-----"
        end = data.find(end_marker.encode("ascii"), match.end())
        next_begin = data.find(b"-----BEGIN ", match.end())
        if end < 0 or 0 <= next_begin < end:
            raise CryptoError(f"The PEM data is truncated: '{end_marker}' is missing.")
        lines = data[match.end() : end].decode("ascii", "replace").splitlines()
        # Base64 never contains ':', so such lines are RFC 1421 headers (Proc-Type, DEK-Info).
        headers = tuple(line.strip() for line in lines if ":" in line)
        body = "".join("".join(line.split()) for line in lines if ":" not in line)
        blocks.append(_PemBlock(label, headers, body))
    return blocks


def _block_der(block: _PemBlock, what: str) -> bytes:
    try:
        decoded = base64.b64decode(block.body, validate=True)
    except binascii.Error as exc:
        raise CryptoError(f"The {what} PEM block is damaged (bad base64 or DER).") from exc
    if not decoded:
        raise CryptoError(f"The {what} PEM block is damaged (bad base64 or DER).")
    return decoded


def _rebuild_pem(block: _PemBlock) -> bytes:
    """Canonical PEM (64-column body, LF) so CRLF or re-wrapped input still loads."""
    headers = "".join(f"{header}\n" for header in block.headers)
    body = "\n".join(textwrap.wrap(block.body, 64))
    text = f"-----BEGIN {block.label}-----\n{headers}\n{body}\n-----END {block.label}-----\n"
    return text.encode("ascii")


# --- CSRs -------------------------------------------------------------------------------------


@guard("The certificate signing request is damaged or uses an unsupported algorithm.")
def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    data = _prepare(data)
    if _is_pem(data):
        blocks = _pem_blocks(data)
        csr_blocks = [block for block in blocks if block.label in _CSR_LABELS]
        if not csr_blocks:
            labels = {block.label for block in blocks}
            if labels & (_CERT_LABELS | _PKCS7_LABELS):
                raise CryptoError("This is a certificate, not a certificate signing request (CSR).")
            if labels & _KEY_LABELS:
                raise CryptoError("This is a private key, not a certificate signing request (CSR).")
            raise CryptoError("No certificate signing request (CSR) found.")
        request_der = _block_der(csr_blocks[0], "certificate signing request")
    else:
        request_der = data
    try:
        csr = x509.load_der_x509_csr(request_der)
    except ValueError as exc:
        raise CryptoError("This is not a certificate signing request (CSR).") from exc
    if not csr.is_signature_valid:
        raise CryptoError("The CSR signature is invalid: the request was altered or is damaged.")
    return csr


# --- certificates and bundles -----------------------------------------------------------------


_BAD_VERSION = "This certificate has an unknown version number (X.509 knows versions 1 to 3)."


def _certificates_from_block(block: _PemBlock) -> list[x509.Certificate]:
    what = "certificate" if block.label in _CERT_LABELS else "PKCS#7"
    block_der = _block_der(block, what)
    try:
        if block.label in _CERT_LABELS:
            return [x509.load_der_x509_certificate(block_der)]
        return pkcs7.load_der_pkcs7_certificates(block_der)
    except x509.InvalidVersion:
        raise CryptoError(_BAD_VERSION) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CryptoError(f"The {what} PEM block is damaged (bad base64 or DER).") from exc


def _not_a_certificate_der(data: bytes) -> str:
    """Explain what a DER blob is when it is not a certificate."""
    if looks_like_pkcs12(data):
        return "This is a PKCS#12 (.pfx/.p12) file: upload it as PKCS#12 with its password."
    try:
        x509.load_der_x509_csr(data)
        return "This is a certificate signing request (CSR), not a certificate."
    except ValueError:
        pass
    if _key_shape(data) is None:
        return _NOT_CERT
    return "This is a private key, not a certificate."  # by its shape: nothing is loaded


def _certificates_from_der(data: bytes) -> list[x509.Certificate]:
    try:
        return [x509.load_der_x509_certificate(data)]
    except x509.InvalidVersion:
        raise CryptoError(_BAD_VERSION) from None
    except ValueError:
        pass
    try:
        certificates = pkcs7.load_der_pkcs7_certificates(data)
    except (ValueError, UnsupportedAlgorithm):
        raise CryptoError(_not_a_certificate_der(data)) from None
    if not certificates:
        raise CryptoError("The PKCS#7 file contains no certificate.")
    return certificates


@guard(_NOT_CERT)
def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates from PEM (any number, any surrounding text), DER or PKCS#7; deduplicated."""
    data = _prepare(data)
    if not _is_pem(data):
        certificates = _certificates_from_der(data)
        limits.refuse_too_many_certificates(len(certificates))
        return unique_certificates(certificates)
    blocks = _pem_blocks(data)
    limits.refuse_too_many_certificates(sum(block.label in _CERT_LABELS for block in blocks))  # before decoding
    certificates = [
        cert
        for block in blocks
        if block.label in _CERT_LABELS | _PKCS7_LABELS
        for cert in _certificates_from_block(block)
    ]
    limits.refuse_too_many_certificates(len(certificates))
    if not certificates:
        labels = {block.label for block in blocks}
        if labels & _KEY_LABELS:
            raise CryptoError("This is a private key, not a certificate.")
        if labels & _CSR_LABELS:
            raise CryptoError("This is a certificate signing request (CSR), not a certificate.")
        raise CryptoError(_NOT_CERT)
    return unique_certificates(certificates)


@dataclass
class Bundle:
    certificates: list[x509.Certificate]
    key: PrivateKey | None


@guard("The bundle could not be read.")
def parse_bundle(data: bytes, passphrase: bytes | None = None) -> Bundle:
    """Certificates plus at most one private key, in any order (combined PEM)."""
    certificates = parse_certificates(data)
    blocks = _pem_blocks(_prepare(data))  # empty for DER: no PEM markers
    if not any(block.label in _KEY_LABELS for block in blocks):
        return Bundle(certificates, None)
    return Bundle(certificates, _load_key_block(_single_key_block(blocks), passphrase))


# --- PKCS#12 ----------------------------------------------------------------------------------


def _der_header(data: bytes, offset: int) -> tuple[int, int, int] | None:
    """(tag, content start, content end) of the DER/BER element at offset, None if malformed."""
    if offset + 2 > len(data):
        return None
    tag, first, start = data[offset], data[offset + 1], offset + 2
    if first == 0x80:  # BER indefinite length, used by some Java/Windows exports
        return tag, start, len(data)
    length = first
    if first > 0x80:
        count = first & 0x7F
        if count > 4 or start + count > len(data):
            return None
        length, start = int.from_bytes(data[start : start + count], "big"), start + count
    if start + length > len(data):
        return None
    return tag, start, start + length


def looks_like_pkcs12(data: bytes) -> bool:
    """A SEQUENCE whose first element is INTEGER 3: the PFX version, cheap to check."""
    outer = _der_header(data, 0)
    if outer is None or outer[0] != 0x30:
        return False
    version = _der_header(data, outer[1])
    return version is not None and version[0] == 0x02 and version[2] - version[1] == 1 and data[version[1]] == 3


def _certificate_in_pkcs12(data: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(data)
    except x509.InvalidVersion:
        raise CryptoError(_BAD_VERSION) from None
    except ValueError:
        raise CryptoError("A certificate in the PKCS#12 file is damaged.") from None


@guard(pkcs12.UNSUPPORTED)
def parse_pkcs12(data: bytes, password: bytes | None) -> Bundle:
    """Key and certificates from a .pfx/.p12, the certificate matching the key first."""
    if not looks_like_pkcs12(bytes(data)):
        raise CryptoError(_NOT_P12)
    contents = pkcs12.read(bytes(data), password)  # each password hashing within limits, or refused first
    if contents.key is not None and _key_shape(contents.key) == "unsupported":
        raise CryptoError(_ONLY_SUPPORTED)
    key = supported_key(_load_der_key(contents.key, None)) if contents.key is not None else None
    certificates = unique_certificates([_certificate_in_pkcs12(item) for item in contents.certificates])
    if not certificates:
        raise CryptoError("The PKCS#12 file contains no certificate.")
    if key is not None:
        matching = [c for c in certificates if certificate_has_key(c, key)]
        certificates = matching[:1] + [c for c in certificates if c not in matching[:1]]
    return Bundle(certificates, key)
