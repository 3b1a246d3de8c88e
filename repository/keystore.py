"""The key store: private keys at rest, the only place that seals or unseals key material.

Three parts, read top to bottom:

- Sealing under the key-encryption key (KEK): authenticated encryption, no database. A sealed blob is
  b"CPK1" | 8-byte KEK id | 12-byte nonce | AES-256-GCM ciphertext+tag; the KEK id lets the panel say
  "wrong key-encryption key" instead of a bare decryption failure, and pick the right key while a rotation runs.
- The key ring: the KEK comes from CERTPANEL_KEY_ENCRYPTION_KEY (or ``_FILE``), else a file generated in the data
  directory on first start. While a rotation runs (repository/kek_rotation.py), ``key_encryption_key.next`` in the
  data directory holds the new KEK: every process then seals under it and opens blobs under either key. The ring
  is read from disk at each use (two small files), so running processes follow a rotation without a restart.
- Storing and loading ``PrivateKey`` rows: a key is sealed on the way in (after its own passphrase, if it has
  one) and unsealed on the way out. A backup's body is sealed the same way (``backup_seal``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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
HEADER = len(MAGIC) + 8 + 12  # magic, KEK id, nonce
OTHER_KEK = (
    "The stored private key was sealed with a different key-encryption key: "
    "check CERTPANEL_KEY_ENCRYPTION_KEY and the data directory."
)


def kek_id(kek: bytes) -> bytes:
    return hashlib.sha256(b"certpanel kek id" + kek).digest()[:8]


def seal(plaintext: bytes, *, kek: bytes) -> bytes:
    nonce = os.urandom(12)
    return MAGIC + kek_id(kek) + nonce + AESGCM(kek).encrypt(nonce, plaintext, AAD)


def sealed_kek_id(blob: bytes | memoryview) -> bytes:
    """The id of the KEK a blob was sealed under (KeyStoreError when it is no sealed blob at all)."""
    blob = bytes(blob)
    if not blob.startswith(MAGIC) or len(blob) < HEADER + 16:
        raise KeyStoreError("The stored private key is damaged.")
    return blob[4:12]


def unseal(blob: bytes | memoryview, *, kek: bytes) -> bytes:
    blob = bytes(blob)
    if sealed_kek_id(blob) != kek_id(kek):
        raise KeyStoreError(OTHER_KEK)
    try:
        return AESGCM(kek).decrypt(blob[12:24], blob[24:], AAD)
    except InvalidTag:
        raise KeyStoreError("The stored private key failed its integrity check.") from None


def decode_kek(text: str, *, source: str = "CERTPANEL_KEY_ENCRYPTION_KEY") -> bytes:
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        kek = b""
    if len(kek) != 32:
        raise KeyStoreError(f"{source} must be 32 bytes in base64 (openssl rand -base64 32).")
    return kek


def kek_text(kek: bytes) -> str:
    return base64.b64encode(kek).decode("ascii")


def _new_kek_text() -> str:
    return kek_text(os.urandom(32))


@dataclass(frozen=True)
class KeyRing:
    """The KEKs this process knows: new blobs are sealed under ``sealing``; a blob opens under any of ``keys``."""

    sealing: bytes
    keys: dict[bytes, bytes]  # KEK id -> KEK

    def open(self, blob: bytes | memoryview) -> bytes:
        kek = self.keys.get(sealed_kek_id(blob))
        if kek is None:
            raise KeyStoreError(OTHER_KEK)
        return unseal(blob, kek=kek)


def kek_path() -> Path:
    """The data directory's KEK file (used when CERTPANEL_KEY_ENCRYPTION_KEY is not set)."""
    return Path(settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH)


def next_kek_path() -> Path:
    """Where a rotation keeps the new KEK until every key is sealed under it and the panel uses it."""
    return kek_path().with_name(kek_path().name + ".next")


def kek_from_environment() -> bool:
    return bool(settings.CERTPANEL_KEY_ENCRYPTION_KEY)


def configured_kek(*, create: bool = True) -> bytes:
    """The KEK the panel is configured with: the environment's, else the data directory's, generated on first use
    unless ``create`` is false (a restore must not invent a key: KeyStoreError then)."""
    if settings.CERTPANEL_KEY_ENCRYPTION_KEY:
        return decode_kek(settings.CERTPANEL_KEY_ENCRYPTION_KEY)
    path = kek_path()
    if create:
        return decode_kek(generated_secret(path, _new_kek_text), source=str(path))
    text = read_kek_file(path)
    if text is None:
        raise KeyStoreError(
            f"This panel has no key-encryption key yet: set CERTPANEL_KEY_ENCRYPTION_KEY or put the key in {path}."
        )
    return decode_kek(text, source=str(path))


def read_kek_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyStoreError(f"Cannot read the key-encryption key in {path}: {exc.strerror}.") from None


def pending_kek() -> bytes | None:
    """The KEK an unfinished rotation seals under (``key_encryption_key.next``), or None."""
    text = read_kek_file(next_kek_path())
    return None if text is None else decode_kek(text, source=str(next_kek_path()))


def key_ring(*, create: bool = True) -> KeyRing:
    # The rotation's file first: it exists for as long as any key may be sealed under it (repository/kek_rotation.py).
    pending = pending_kek()
    configured = configured_kek(create=create)
    keys = {kek_id(configured): configured}
    if pending is not None:
        keys[kek_id(pending)] = pending
    return KeyRing(sealing=pending or configured, keys=keys)


def current_kek() -> bytes:
    """The KEK new blobs are sealed under: the configured one, or the new one while a rotation runs."""
    return key_ring().sealing


def open_sealed(blob: bytes | memoryview) -> bytes:
    """Unseal under whichever known KEK sealed it; the ring is read again once when it does not know the blob's
    KEK id (a rotation may have just moved on)."""
    ring = key_ring()
    if sealed_kek_id(blob) not in ring.keys:
        ring = key_ring()
    return ring.open(blob)


def _backup_key(kek: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"certpanel backup v1").derive(kek)


def backup_seal(data: bytes, *, header: bytes, kek: bytes) -> bytes:
    """A backup's body, encrypted and authenticated under a key derived from the KEK; ``header`` is authenticated
    too (it stays readable: format, KEK id, counts)."""
    nonce = os.urandom(12)
    return nonce + AESGCM(_backup_key(kek)).encrypt(nonce, data, header)


def backup_open(blob: bytes, *, header: bytes, kek: bytes) -> bytes:
    try:
        return AESGCM(_backup_key(kek)).decrypt(blob[:12], blob[12:], header)
    except (InvalidTag, ValueError):
        raise KeyStoreError("The backup file is damaged or was changed: it fails its integrity check.") from None


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
    pem = open_sealed(row.sealed_pem)
    if not row.has_passphrase:
        return load_private_key(pem)
    if not passphrase:
        raise CryptoError("This private key is protected by a passphrase: enter it.")
    try:
        return load_private_key(pem, passphrase)
    except CryptoError:
        raise CryptoError("Wrong passphrase for this certificate's private key.") from None
