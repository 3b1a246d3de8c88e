"""Authenticated encryption of private keys at rest under the key-encryption key (KEK).

Format of a sealed blob: b"CPK1" | 8-byte KEK id | 12-byte nonce | AES-256-GCM ciphertext+tag.
The KEK id lets the panel say "wrong key-encryption key" instead of a bare decryption failure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from certpanel.env import generated_secret
from repository.errors import KeyStoreError

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
