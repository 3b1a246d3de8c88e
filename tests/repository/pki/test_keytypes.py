"""Tests for repository.pki.keytypes: key type codes and labels.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from repository.pki.keytypes import key_description, key_type_of


def test_key_type_of_names_loaded_only_key_types() -> None:
    assert key_type_of(ed25519.Ed25519PrivateKey.generate()) == "ed25519"
    assert key_type_of(ec.generate_private_key(ec.SECP521R1())) == "ec521"
    assert key_type_of(ec.generate_private_key(ec.SECP256K1())) == "ec-secp256k1"


@pytest.mark.parametrize(
    ("key_type", "description"),
    [
        ("rsa8192", "RSA 8192"),
        ("rsa1024", "RSA 1024"),
        ("ec521", "ECDSA P-521"),
        ("ed25519", "Ed25519"),
        ("ec-secp256k1", "ECDSA secp256k1"),
        ("mystery", "mystery"),
    ],
)
def test_key_description_handles_types_outside_key_types(key_type: str, description: str) -> None:
    assert key_description(key_type) == description
