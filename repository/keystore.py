"""The key store: private keys at rest, the only place that seals or unseals key material.

Two halves, read top to bottom:

- Sealing under the key-encryption key (KEK): authenticated encryption, no database. A sealed blob is
  b"CPK1" | 8-byte KEK id | 12-byte nonce | AES-256-GCM ciphertext+tag; the KEK id lets the panel say
  "wrong key-encryption key" instead of a bare decryption failure. The KEK comes from
  CERTPANEL_KEY_ENCRYPTION_KEY, or a file generated in the data directory on first start.
- Storing and loading ``PrivateKey`` rows: a key is sealed on the way in (after its own passphrase, if it has
  one) and unsealed on the way out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from certpanel.env import generated_secret
from repository.errors import CryptoError, KeyStoreError
from repository.models import PrivateKey
from repository.pki import keytypes
from repository.pki.convert import private_key_to_pem
from repository.pki.keytypes import PublicKey, key_type_of
from repository.pki.parse import load_private_key

MAGIC = b"CPK1"
AAD = b"certpanel private key"


def kek_id(kek: bytes) -> bytes:
    return hashlib.sha256(b"certpanel kek id" + kek).digest()[:8]


def seal(plaintext: bytes, *, kek: bytes) -> bytes:
    nonce = os.urandom(12)
    return MAGIC + kek_id(kek) + nonce + AESGCM(kek).encrypt(nonce, plaintext, AAD)


def unseal(blob: bytes | memoryview, *, kek: bytes) -> bytes:
    blob = bytes(blob)
    if not blob.startswith(MAGIC) or len(blob) < 4 + 8 + 12 + 16:
        raise KeyStoreError("The stored private key is damaged.")
    if blob[4:12] != kek_id(kek):
        raise KeyStoreError(
            "The stored private key was sealed with a different key-encryption key: "
            "check CERTPANEL_KEY_ENCRYPTION_KEY and the data directory."
        )
    try:
        return AESGCM(kek).decrypt(blob[12:24], blob[24:], AAD)
    except InvalidTag:
        raise KeyStoreError("The stored private key failed its integrity check.") from None


def decode_kek(text: str) -> bytes:
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        kek = b""
    if len(kek) != 32:
        raise KeyStoreError("CERTPANEL_KEY_ENCRYPTION_KEY must be 32 bytes in base64 (openssl rand -base64 32).")
    return kek


def _new_kek_text() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


@cache
def current_kek() -> bytes:
    text = settings.CERTPANEL_KEY_ENCRYPTION_KEY or generated_secret(
        settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH, _new_kek_text
    )
    return decode_kek(text)


def spki_sha256(public_key: PublicKey) -> str:
    """Hash of the SubjectPublicKeyInfo: finds the stored key that belongs to a certificate."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def key_store(key: keytypes.PrivateKey, *, passphrase: bytes | None = None) -> PrivateKey:
    """Seal and save a key; with a passphrase it is encrypted by that first, then by the KEK."""
    pem = private_key_to_pem(key, passphrase or None)
    return PrivateKey.objects.create(
        key_type=key_type_of(key),
        sealed_pem=seal(pem, kek=current_kek()),
        has_passphrase=bool(passphrase),
        public_key_sha256=spki_sha256(key.public_key()),
    )


def key_load(row: PrivateKey, *, passphrase: bytes | None = None) -> keytypes.PrivateKey:
    pem = unseal(row.sealed_pem, kek=current_kek())
    if not row.has_passphrase:
        return load_private_key(pem)
    if not passphrase:
        raise CryptoError("This private key is protected by a passphrase: enter it.")
    try:
        return load_private_key(pem, passphrase)
    except CryptoError:
        raise CryptoError("Wrong passphrase for this certificate's private key.") from None
