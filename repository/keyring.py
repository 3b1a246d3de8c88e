"""Storing and loading private keys: the only place that seals or unseals key material."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization

from repository import keystore
from repository.errors import CryptoError
from repository.models import PrivateKey
from repository.pki import keytypes
from repository.pki.convert import private_key_to_pem
from repository.pki.keytypes import PublicKey, key_type_of
from repository.pki.parse import load_private_key


def spki_sha256(public_key: PublicKey) -> str:
    """Hash of the SubjectPublicKeyInfo: finds the stored key that belongs to a certificate."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def key_store(key: keytypes.PrivateKey, *, passphrase: bytes | None = None) -> PrivateKey:
    """Seal and save a key; with a passphrase it is encrypted by that first, then by the KEK."""
    pem = private_key_to_pem(key, passphrase or None)
    return PrivateKey.objects.create(
        key_type=key_type_of(key),
        sealed_pem=keystore.seal(pem, kek=keystore.current_kek()),
        has_passphrase=bool(passphrase),
        public_key_sha256=spki_sha256(key.public_key()),
    )


def key_load(row: PrivateKey, *, passphrase: bytes | None = None) -> keytypes.PrivateKey:
    pem = keystore.unseal(row.sealed_pem, kek=keystore.current_kek())
    if not row.has_passphrase:
        return load_private_key(pem)
    if not passphrase:
        raise CryptoError("This private key is protected by a passphrase: enter it.")
    try:
        return load_private_key(pem, passphrase)
    except CryptoError:
        raise CryptoError("Wrong passphrase for this certificate's private key.") from None
