import base64
import os

import pytest

from repository import keystore
from repository.keystore import KeyStoreError


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
