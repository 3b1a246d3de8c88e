"""Tests for repository.pki.pkcs12 and repository.pki.rc2: the panel's own PKCS#12 reader reads what OpenSSL reads
(legacy RC2/3DES exports, modern AES ones, BER from other tools), and refuses what would cost too much.

The whole cryptography_vectors corpus is compared with OpenSSL's reader in tests/repository/test_hostile_corpus.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import RC2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.serialization import pkcs12 as openssl_pkcs12

from repository.errors import CryptoError
from repository.pki import rc2
from repository.pki.parse import parse_pkcs12
from tests.repository.pki.builders import Pki, issue, needs_openssl, pem, run_openssl, x509_name

# RFC 2268 section 5: key, effective bits, plaintext, ciphertext.
RFC_2268_VECTORS = [
    ("0000000000000000", 63, "0000000000000000", "ebb773f993278eff"),
    ("ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"),
    ("3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"),
    ("88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"),
    ("88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"),
    ("88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"),
]


@pytest.mark.parametrize(("key", "bits", "plain", "cipher"), RFC_2268_VECTORS)
def test_rc2_decrypts_the_rfc_vectors(key: str, bits: int, plain: str, cipher: str) -> None:
    assert rc2.decrypt_block(rc2.expand_key(bytes.fromhex(key), bits), bytes.fromhex(cipher)).hex() == plain


def test_rc2_cbc_agrees_with_openssl_for_128_bit_keys() -> None:
    key, iv, data = os.urandom(16), os.urandom(8), os.urandom(96)
    encryptor = Cipher(RC2(key), modes.CBC(iv)).encryptor()
    assert rc2.cbc_decrypt(key, 128, iv, encryptor.update(data) + encryptor.finalize()) == data


def _same(ours: object, theirs: openssl_pkcs12.PKCS12KeyAndCertificates) -> None:
    certificates = [c.certificate for c in ([theirs.cert] if theirs.cert else []) + list(theirs.additional_certs)]
    assert set(ours.certificates) == set(certificates)  # type: ignore[attr-defined]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert ours.key.public_key().public_bytes(serialization.Encoding.DER, spki) == theirs.key.public_key().public_bytes(  # type: ignore[attr-defined,union-attr]
        serialization.Encoding.DER, spki
    )


@needs_openssl
@pytest.mark.parametrize("legacy", [True, False], ids=["legacy RC2-40 and 3DES", "OpenSSL 3 default AES"])
def test_openssl_exports_read_as_openssl_reads_them(pki: Pki, tmp_path: Path, legacy: bool) -> None:
    (tmp_path / "key.pem").write_bytes(
        pki.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "cert.pem").write_bytes(pem(pki.leaf))
    (tmp_path / "chain.pem").write_bytes(pem(pki.intermediate) + pem(pki.root))
    args = ["pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-certfile", "chain.pem"]
    run_openssl(*args, *(["-legacy"] if legacy else []), "-out", "x.p12", "-passout", "pass:pässword", cwd=tmp_path)
    data = (tmp_path / "x.p12").read_bytes()
    bundle = parse_pkcs12(data, "pässword".encode())
    _same(bundle, openssl_pkcs12.load_pkcs12(data, "pässword".encode()))
    assert bundle.certificates[0] == pki.leaf
    with pytest.raises(CryptoError, match=r"^Wrong password for the PKCS#12 file\.$"):
        parse_pkcs12(data, b"password")


@needs_openssl
def test_a_legacy_export_too_big_for_rc2_is_refused_quickly(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    many = [  # about 1 KB each (an RSA key and a dozen names): 95 of them are more than RC2's 64 KB
        issue(
            subject=x509_name(f"ca{i}.example.com"),
            public_key=rsa_key.public_key(),
            issuer=x509_name("Issuer"),
            signing_key=key,
            ca=True,
            eku=None,
            sans=tuple(f"name{j}.ca{i}.example.com" for j in range(12)),
        )
        for i in range(95)
    ]
    (tmp_path / "key.pem").write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "certs.pem").write_bytes(b"".join(pem(c) for c in many))
    run_openssl(
        "pkcs12", "-export", "-legacy", "-in", "certs.pem", "-inkey", "key.pem", "-out", "x.p12", "-passout",
        "pass:pw", cwd=tmp_path,
    )  # fmt: skip
    started = time.process_time()
    with pytest.raises(CryptoError, match=r"with RC2, a legacy cipher the panel decrypts slowly; it reads up to"):
        parse_pkcs12((tmp_path / "x.p12").read_bytes(), b"pw")
    assert time.process_time() - started < 0.5


def test_cryptography_exports_of_every_kind_read_back(pki: Pki, rsa_key: rsa.RSAPrivateKey) -> None:
    builders = {
        "aes": openssl_pkcs12.PBES.PBESv2SHA256AndAES256CBC,
        "3des": openssl_pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC,
    }
    for label, algorithm in builders.items():
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(3000)
            .key_cert_algorithm(algorithm)
            .hmac_hash(hashes.SHA1() if label == "3des" else hashes.SHA512())
            .build(b"secret")
        )
        data = openssl_pkcs12.serialize_key_and_certificates(
            b"n", pki.leaf_key, pki.leaf, [pki.intermediate], encryption
        )
        _same(parse_pkcs12(data, b"secret"), openssl_pkcs12.load_pkcs12(data, b"secret"))
    unprotected = openssl_pkcs12.serialize_key_and_certificates(
        b"n", rsa_key, None, [pki.root], serialization.NoEncryption()
    )
    bundle = parse_pkcs12(unprotected, None)
    assert bundle.certificates == [pki.root] and bundle.key is not None
    assert parse_pkcs12(unprotected, b"typed anyway").certificates == [pki.root]
