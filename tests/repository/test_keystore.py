"""The key store: sealing under the KEK, and storing and loading PrivateKey rows."""

import base64
import os
from pathlib import Path
from typing import Any

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


@pytest.fixture
def kek_dir(tmp_path: Path, settings: Any) -> Path:
    """A data directory of the test's own for the KEK files (the environment gives none)."""
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = ""
    settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH = tmp_path / "key_encryption_key"
    return tmp_path


def test_the_ring_seals_under_a_rotation_s_new_key_and_opens_under_either(kek_dir: Path) -> None:
    old = keystore.current_kek()
    assert (kek_dir / "key_encryption_key").stat().st_mode & 0o777 == 0o600
    sealed_before = keystore.seal(b"before", kek=old)
    new = os.urandom(32)
    (kek_dir / "key_encryption_key.next").write_text(keystore.kek_text(new) + "\n")
    ring = keystore.key_ring()
    assert ring.sealing == new and set(ring.keys) == {keystore.kek_id(old), keystore.kek_id(new)}
    assert keystore.current_kek() == new, "a running process follows the rotation without a restart"
    assert keystore.open_sealed(sealed_before) == b"before"
    assert keystore.open_sealed(keystore.seal(b"after", kek=new)) == b"after"
    with pytest.raises(KeyStoreError, match="different key-encryption key"):
        keystore.open_sealed(keystore.seal(b"x", kek=os.urandom(32)))


def test_a_damaged_rotation_file_names_itself(kek_dir: Path) -> None:
    (kek_dir / "key_encryption_key.next").write_text("short\n")
    with pytest.raises(KeyStoreError, match=r"key_encryption_key\.next must be 32 bytes"):
        keystore.key_ring()


def test_a_restore_never_invents_a_key(kek_dir: Path) -> None:
    with pytest.raises(KeyStoreError, match="no key-encryption key yet"):
        keystore.key_ring(create=False)
    assert not (kek_dir / "key_encryption_key").exists()


def test_the_environment_s_key_wins_over_the_data_directory_s(kek_dir: Path, settings: Any) -> None:
    keystore.current_kek()  # the data directory's file exists now
    env_kek = os.urandom(32)
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = keystore.kek_text(env_kek)
    assert keystore.key_ring(create=False).sealing == env_kek


def test_a_backup_body_opens_only_with_its_kek_and_unchanged_header() -> None:
    kek = os.urandom(32)
    blob = keystore.backup_seal(b"rows", header=b"header", kek=kek)
    assert keystore.backup_open(blob, header=b"header", kek=kek) == b"rows"
    for header, key in ((b"Header", kek), (b"header", os.urandom(32))):
        with pytest.raises(KeyStoreError, match="damaged or was changed"):
            keystore.backup_open(blob, header=header, kek=key)
