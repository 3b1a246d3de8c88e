"""The key types the panel handles, for annotations shared by parsing and chain (which parsing imports).

Only ``cryptography``: no Django.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
# Broad on purpose: certificates from the wild may carry DSA/Ed448 keys we can still describe.
PublicKey: TypeAlias = PublicKeyTypes
