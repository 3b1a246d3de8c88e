"""Whether a private key, public key, certificate and CSR belong together (same public key).

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from repository.errors import CryptoError
from repository.pki import safe
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


def _spki_der(item: object) -> bytes:
    """DER SubjectPublicKeyInfo of a key, certificate or CSR: the canonical thing to compare."""
    if isinstance(item, (x509.Certificate, x509.CertificateSigningRequest)):
        item = safe.public_key(item)
    elif isinstance(item, _PRIVATE_KEY_CLASSES):
        item = item.public_key()
    public_bytes = getattr(item, "public_bytes", None)
    if public_bytes is None:
        raise CryptoError("This is not a key, certificate or certificate signing request.")
    try:
        der: bytes = public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except safe.FAILURES as exc:
        raise CryptoError("This key type cannot be compared.") from exc
    return der


def public_key_matches(
    key: PrivateKey | PublicKey,
    other: x509.Certificate | x509.CertificateSigningRequest | PrivateKey | PublicKey,
) -> bool:
    """True when both sides carry the same public key."""
    return _spki_der(key) == _spki_der(other)


def certificate_has_key(cert: x509.Certificate, key: PrivateKey | PublicKey) -> bool:
    """Like ``public_key_matches``, but a certificate whose key cannot be read simply does not have this key."""
    try:
        return public_key_matches(key, cert)
    except CryptoError:
        return False
