"""Whether a private key, public key, certificate and CSR belong together (same public key).

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from repository.errors import CryptoError
from repository.pki.keytypes import PrivateKey, PublicKey

# Every private key class cryptography can load, so a key of any type is reduced to its public half.
_PRIVATE_KEY_CLASSES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    dsa.DSAPrivateKey,
    x25519.X25519PrivateKey,
    x448.X448PrivateKey,
)
# What can go wrong inside cryptography when a certificate or key is unusual.
_CRYPTO_FAILURES = (ValueError, TypeError, UnsupportedAlgorithm, InvalidSignature)


def _spki_der(item: object) -> bytes:
    """DER SubjectPublicKeyInfo of a key, certificate or CSR: the canonical thing to compare."""
    if isinstance(item, (x509.Certificate, x509.CertificateSigningRequest, *_PRIVATE_KEY_CLASSES)):
        item = item.public_key()
    public_bytes = getattr(item, "public_bytes", None)
    if public_bytes is None:
        raise CryptoError("This is not a key, certificate or certificate signing request.")
    try:
        der: bytes = public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except _CRYPTO_FAILURES as exc:
        raise CryptoError("This key type cannot be compared.") from exc
    return der


def public_key_matches(
    key: PrivateKey | PublicKey,
    other: x509.Certificate | x509.CertificateSigningRequest | PrivateKey | PublicKey,
) -> bool:
    """True when both sides carry the same public key."""
    return _spki_der(key) == _spki_der(other)
