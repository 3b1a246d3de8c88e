"""The key types the panel handles: the annotations every pki module shares, their short codes and labels.

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

import re
from typing import TypeAlias

from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
# Broad on purpose: certificates from the wild may carry DSA/Ed448 keys we can still describe.
PublicKey: TypeAlias = PublicKeyTypes

# The key types the panel generates, with their labels.
KEY_TYPES: dict[str, str] = {
    "rsa2048": "RSA 2048",
    "rsa3072": "RSA 3072",
    "rsa4096": "RSA 4096",
    "ec256": "ECDSA P-256",
    "ec384": "ECDSA P-384",
}
_NIST_CURVES = {"secp256r1", "secp384r1", "secp521r1"}


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
