"""Tests for repository.pki.limits and where parse applies them: every costly upload is refused, in well under a
second, with a sentence that says what to do.

Costly files are made by patching the iteration counts of cheap ones (tests/support/hostile.py): the refusal reads
the counts from the DER, so the file never needs to be really expensive to build.
"""

from __future__ import annotations

import base64
import math
import secrets
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from repository.errors import CryptoError
from repository.pki import limits, safe
from repository.pki.convert import to_pkcs12
from repository.pki.parse import load_private_key, parse_certificates, parse_pkcs12
from tests.repository.pki.builders import Pki, needs_openssl, pem, run_openssl
from tests.support.hostile import (
    integer,
    oid,
    pkcs12_hiding_a_costly_key,
    tlv,
    with_pkcs8_iterations,
    with_pkcs12_mac_iterations,
)

TEN_MILLION = 10_000_000


@contextmanager
def quick(limit: float = 0.5) -> Iterator[None]:
    """CPU time of this process, not wall time: the refusal must be cheap, whatever else the machine runs."""
    started = time.process_time()
    yield
    elapsed = time.process_time() - started
    assert elapsed < limit, f"took {elapsed:.2f} s"


def _refused(call: Callable[[], object], match: str) -> None:
    with quick(), pytest.raises(CryptoError, match=match):
        call()


def test_a_pkcs12_claiming_ten_million_mac_iterations_is_refused_before_hashing(pki: Pki) -> None:
    p12 = to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"pw")
    costly = with_pkcs12_mac_iterations(p12, TEN_MILLION)
    message = r"^This PKCS#12 file hashes its password 10,000,000 times; the panel opens files of up to 200,000"
    for password in (b"pw", b"wrong", None):
        _refused(lambda password=password: parse_pkcs12(costly, password), message)
    assert with_pkcs12_mac_iterations(p12, 2048) == p12  # the patch finds the MAC's count (cryptography writes 2048)


def test_a_pkcs12_whose_encrypted_parts_claim_too_many_iterations_is_refused(pki: Pki) -> None:
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(limits.MAX_KDF_ITERATIONS + 1)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"pw")
    )
    p12 = pkcs12.serialize_key_and_certificates(b"m", pki.leaf_key, pki.leaf, None, encryption)
    _refused(lambda: parse_pkcs12(p12, b"pw"), "hashes its password 200,001 times")  # the MAC (2,048) ran first


def test_an_encrypted_key_claiming_ten_million_iterations_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    costly = with_pkcs8_iterations(encrypted, TEN_MILLION)
    as_pem = pem_block("ENCRYPTED PRIVATE KEY", costly)
    for data in (costly, as_pem):
        _refused(lambda data=data: load_private_key(data, b"pw"), r"^This private key hashes its password 10,000,000")
        # Without a passphrase nothing is hashed: the admin is asked for it first.
        _refused(lambda data=data: load_private_key(data, None), r"^The private key is encrypted: enter its")


def pem_block(label: str, data: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(data).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


def _pbkdf2(iterations: int) -> bytes:
    return tlv(0x30, oid("1.2.840.113549.1.5.12") + tlv(0x30, tlv(0x04, b"salt") + integer(iterations)))


def test_many_affordable_derivations_still_add_up_to_a_refusal() -> None:
    six = tlv(0x30, b"".join(_pbkdf2(limits.MAX_KDF_ITERATIONS) for _ in range(6)))
    with quick(), pytest.raises(CryptoError, match=r"too many password-protected parts \(800,000 iterations"):
        limits.refuse_costly_key_derivation(six, what="PKCS#12 file")
    limits.refuse_costly_key_derivation(tlv(0x30, _pbkdf2(2048) * 5), what="PKCS#12 file")


def test_scrypt_work_is_capped() -> None:
    def scrypt(n: int) -> bytes:
        params = tlv(0x04, b"salt") + integer(n) + integer(8) + integer(1)
        return tlv(0x30, oid("1.3.6.1.4.1.11591.4.11") + tlv(0x30, params))

    limits.refuse_costly_key_derivation(scrypt(2**14), what="private key")
    with pytest.raises(CryptoError, match=r"scrypt at a cost of 8,388,608"):
        limits.refuse_costly_key_derivation(scrypt(2**20), what="private key")


def test_a_costly_key_hidden_inside_an_encrypted_part_is_refused_before_its_hashing(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    """OpenSSL would decrypt the part and then hash ten million times; the count is read once it is visible."""
    hidden = pkcs12_hiding_a_costly_key(ec_key, b"pw", TEN_MILLION)
    _refused(lambda: parse_pkcs12(hidden, b"pw"), r"^This PKCS#12 file hashes its password 10,000,000 times")
    affordable = pkcs12_hiding_a_costly_key(ec_key, b"pw", 2048)
    assert _message(lambda: parse_pkcs12(affordable, b"pw")) == "The PKCS#12 file contains no certificate."


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(CryptoError) as caught:
        call()
    return str(caught.value)


def test_an_unreadable_pkcs12_structure_is_refused_not_handed_on() -> None:
    damaged = b"\x30\x80\x02\x01\x03\x30\x05"
    assert (
        _message(lambda: parse_pkcs12(damaged, b"pw")) == "This PKCS#12 file is damaged: its structure cannot be read."
    )


def test_a_pkcs12_with_an_oversized_rsa_key_is_refused_without_openssls_check() -> None:
    """OpenSSL's reader checks an RSA key with primality tests (9 s at 8192 bits, minutes at 16384)."""
    p12 = pkcs12.serialize_key_and_certificates(
        b"big", _fake_rsa_key(4200), None, None, serialization.BestAvailableEncryption(b"pw")
    )
    _refused(lambda: parse_pkcs12(p12, b"pw"), r"^This RSA private key has 8(399|400) bits")


def test_more_certificates_than_the_limit_are_refused_before_decoding(pki: Pki) -> None:
    many = pem(pki.leaf) * (limits.MAX_CERTIFICATES + 1)
    _refused(lambda: parse_certificates(many), r"^The upload holds 101 certificates; the panel reads at most 100")
    garbage = b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n" * 5000
    _refused(lambda: parse_certificates(garbage), r"^The upload holds 5000 certificates")
    assert len(parse_certificates(pem(pki.leaf) * limits.MAX_CERTIFICATES)) == 1  # duplicates count, then go


def _certificate_with(public_key: rsa.RSAPublicKey) -> x509.Certificate:
    signer = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "big.example.com")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )


def _odd(bits: int) -> int:
    return secrets.randbits(bits) | (1 << (bits - 1)) | 1


@pytest.mark.parametrize(
    ("bits", "exponent", "message"),
    [
        (16384, 65537, "This certificate has an RSA key of 16384 bits (the panel handles RSA keys of up to 8192"),
        (3072, (1 << 64) + 1, "This certificate has an RSA key with a public exponent of more than 32 bits."),
    ],
)
def test_keys_too_costly_to_check_signatures_with_are_refused(bits: int, exponent: int, message: str) -> None:
    cert = _certificate_with(rsa.RSAPublicNumbers(exponent, _odd(bits)).public_key())
    with pytest.raises(CryptoError) as caught:
        safe.public_key(cert)
    assert str(caught.value).startswith(message)


def _fake_rsa_key(prime_bits: int) -> rsa.RSAPrivateKey:
    """An RSA key of twice ``prime_bits`` whose "primes" are random odd numbers: consistent in every part a
    damaged file would break, and instant to make (a real 8192-bit key takes minutes)."""
    e = 65537
    while True:
        p, q = _odd(prime_bits), _odd(prime_bits)
        lcm = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
        if math.gcd(e, lcm) == 1 and math.gcd(p, q) == 1:
            break
    d = pow(e, -1, lcm)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_an_oversized_rsa_private_key_is_refused_without_openssls_primality_tests() -> None:
    big = _pem(_fake_rsa_key(4200))
    _refused(
        lambda: load_private_key(big),
        r"^This RSA private key has 8(399|400) bits; the panel handles RSA keys of up to 8192",
    )


def test_a_damaged_rsa_private_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    numbers = rsa_key.private_numbers()
    damaged = rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d, numbers.dmp1 ^ 2, numbers.dmq1, numbers.iqmp, numbers.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    _refused(lambda: load_private_key(_pem(damaged)), r"^The RSA private key is damaged: its parts do not fit")
    assert load_private_key(_pem(rsa_key)).private_numbers() == numbers


# RFC 3526 group 14: a well-known 2048-bit safe prime, so a DH key can be made without generating parameters.
MODP_2048 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B"
    "302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE6"
    "49286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D"
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")  # FFDH is deprecated
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_dh_private_key_is_refused_before_any_loader_checks_its_parameters(
    monkeypatch: pytest.MonkeyPatch, encrypted: bool
) -> None:
    """Loading a DH key runs OpenSSL's parameter checks (60 ms for 1024 bits; a crafted 8192-bit safe prime takes
    minutes): the type is read from the DER, and the key is never loaded."""
    x = secrets.randbelow(MODP_2048 - 3) + 2
    numbers = dh.DHParameterNumbers(MODP_2048, 2)
    key = dh.DHPrivateNumbers(x, dh.DHPublicNumbers(pow(2, x, MODP_2048), numbers)).private_key()
    encryption = serialization.BestAvailableEncryption(b"pw") if encrypted else serialization.NoEncryption()
    data = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, encryption)

    def never(*_: object, **__: object) -> None:
        raise AssertionError("the key was handed to a loader")

    monkeypatch.setattr(serialization, "load_der_private_key", never)
    monkeypatch.setattr(serialization, "load_pem_private_key", never)
    for upload in (data, pem_block("ENCRYPTED PRIVATE KEY" if encrypted else "PRIVATE KEY", data)):
        _refused(lambda upload=upload: load_private_key(upload, b"pw"), r"^Only RSA, ECDSA and Ed25519 private keys")
    assert "private key, not a certificate" in _message(lambda: parse_certificates(data))


@needs_openssl
@pytest.mark.parametrize(
    "scheme",
    [
        ["-v1", "PBE-SHA1-3DES"],
        ["-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"],
        ["-v2", "des3"],
        ["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512"],
        ["-scrypt"],  # not decrypted here: handed to cryptography after the cost check
    ],
    ids=lambda scheme: " ".join(scheme),
)
def test_openssl_encrypted_keys_open(rsa_key: rsa.RSAPrivateKey, tmp_path: Path, scheme: list[str]) -> None:
    unencrypted = serialization.NoEncryption()
    (tmp_path / "key.pem").write_bytes(
        rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, unencrypted)
    )
    run_openssl("pkcs8", "-topk8", *scheme, "-in", "key.pem", "-out", "enc.pem", "-passout", "pass:pw", cwd=tmp_path)
    data = (tmp_path / "enc.pem").read_bytes()
    assert load_private_key(data, b"pw").private_numbers() == rsa_key.private_numbers()
    assert _message(lambda: load_private_key(data, b"nope")) == "Wrong passphrase for the private key."
