"""The key store: sealing under the KEK, and storing and loading PrivateKey rows."""

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization

from repository import keystore
from repository.errors import CryptoError, KeyStoreError
from repository.keystore import key_load, key_store, spki_sha256
from tests.support.factories import ec_key


def test_seal_round_trips_and_hides_plaintext() -> None:
    kek = os.urandom(32)
    plaintext = b"-----BEGIN " + b"PRIVATE KEY-----secret"  # a marker, not a key (none is ever committed)
    blob = keystore.seal(plaintext, kek=kek)
    assert b"PRIVATE KEY" not in blob and b"secret" not in blob
    assert keystore.unseal(blob, kek=kek) == plaintext


def test_unseal_with_another_kek_says_which_setting_to_check() -> None:
    blob = keystore.seal(b"x", kek=os.urandom(32))
    with pytest.raises(KeyStoreError, match="CERTPANEL_KEY_ENCRYPTION_KEY"):
        keystore.unseal(blob, kek=os.urandom(32))


def test_unseal_detects_tampering() -> None:
    kek = os.urandom(32)
    blob = bytearray(keystore.seal(b"payload", kek=kek))
    blob[-1] ^= 1
    with pytest.raises(KeyStoreError, match="integrity"):
        keystore.unseal(bytes(blob), kek=kek)


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_decode_kek_rejects_malformed_values(text: str) -> None:
    with pytest.raises(KeyStoreError, match="32 bytes"):
        keystore.decode_kek(text)


def test_decode_kek_accepts_openssl_rand_output() -> None:
    assert len(keystore.decode_kek(base64.b64encode(os.urandom(32)).decode() + "\n")) == 32


def _public_der(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.django_db
def test_key_store_keeps_only_the_sealed_key_and_key_load_opens_it() -> None:
    key = ec_key()
    row = key_store(key)
    row.refresh_from_db()
    assert bytes(row.sealed_pem).startswith(keystore.MAGIC) and b"PRIVATE KEY" not in bytes(row.sealed_pem)
    assert (row.key_type, row.has_passphrase) == ("ec256", False)
    assert row.public_key_sha256 == spki_sha256(key.public_key())
    assert _public_der(key_load(row)) == _public_der(key)


@pytest.mark.django_db
def test_a_key_stored_with_a_passphrase_opens_only_with_it() -> None:
    key = ec_key()
    row = key_store(key, passphrase=b"correct horse")
    assert row.has_passphrase
    with pytest.raises(CryptoError, match="protected by a passphrase: enter it"):
        key_load(row)
    with pytest.raises(CryptoError, match="Wrong passphrase"):
        key_load(row, passphrase=b"wrong")
    assert _public_der(key_load(row, passphrase=b"correct horse")) == _public_der(key)


@pytest.mark.django_db
def test_a_key_sealed_under_another_kek_is_refused_with_the_setting_to_check() -> None:
    row = key_store(ec_key())
    row.sealed_pem = keystore.seal(b"anything", kek=os.urandom(32))
    with pytest.raises(KeyStoreError, match="CERTPANEL_KEY_ENCRYPTION_KEY"):
        key_load(row)
