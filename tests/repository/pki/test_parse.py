"""Tests for repository.pki.parse: reading uploads: keys, certificates, CSRs, bundles, PKCS#12.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

import base64
import contextlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from repository.errors import CryptoError
from repository.pki.convert import convert, csr_to_pem, private_key_to_pem, private_key_to_traditional_pem, to_pkcs12
from repository.pki.generate import SubjectFields, create_csr
from repository.pki.match import public_key_matches
from repository.pki.parse import (
    Bundle,
    load_csr,
    load_private_key,
    looks_like_pkcs12,
    parse_bundle,
    parse_certificates,
    parse_pkcs12,
)
from tests.repository.pki.builders import Pki, der, needs_openssl, pem, run_openssl


def test_encrypted_pem_loads_with_right_passphrase(rsa_key: rsa.RSAPrivateKey) -> None:
    data = private_key_to_pem(rsa_key, b"correct horse")
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in data
    assert public_key_matches(load_private_key(data, b"correct horse"), rsa_key)


def test_encrypted_pem_rejects_wrong_passphrase(rsa_key: rsa.RSAPrivateKey) -> None:
    data = private_key_to_pem(rsa_key, b"correct horse")
    with pytest.raises(CryptoError, match=r"^Wrong passphrase for the private key\.$"):
        load_private_key(data, b"battery staple")


def test_encrypted_pem_without_passphrase_asks_for_it(rsa_key: rsa.RSAPrivateKey) -> None:
    data = private_key_to_pem(rsa_key, b"correct horse")
    for missing in (None, b""):
        with pytest.raises(CryptoError, match=r"^The private key is encrypted: enter its"):
            load_private_key(data, missing)


def test_passphrase_for_unencrypted_key_is_ignored(ec_key: ec.EllipticCurvePrivateKey) -> None:
    key = load_private_key(private_key_to_pem(ec_key), b"unneeded")
    assert public_key_matches(key, ec_key)


def test_legacy_encrypted_pem_from_cryptography(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert b"Proc-Type: 4,ENCRYPTED" in data
    assert public_key_matches(load_private_key(data, b"pw"), ec_key)
    with pytest.raises(CryptoError, match="enter its passphrase"):
        load_private_key(data)
    with pytest.raises(CryptoError, match="Wrong passphrase"):
        load_private_key(data, b"nope")


@needs_openssl
def test_legacy_encrypted_pem_from_openssl_with_crlf(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    (tmp_path / "plain.pem").write_bytes(private_key_to_pem(rsa_key))
    run_openssl(
        "rsa", "-in", "plain.pem", "-traditional", "-aes256",
        "-passout", "pass:x", "-out", "legacy.pem",
        cwd=tmp_path,
    )  # fmt: skip
    data = (tmp_path / "legacy.pem").read_bytes()
    assert b"Proc-Type: 4,ENCRYPTED" in data
    crlf = data.replace(b"\n", b"\r\n")
    assert public_key_matches(load_private_key(crlf, b"x"), rsa_key)
    with pytest.raises(CryptoError, match=r"^Wrong passphrase"):
        load_private_key(crlf, b"y")
    with pytest.raises(CryptoError, match="enter its passphrase"):
        load_private_key(crlf)


@needs_openssl
def test_openssl_encrypted_pkcs8_key_loads(ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    (tmp_path / "plain.pem").write_bytes(private_key_to_traditional_pem(ec_key))
    run_openssl(
        "pkcs8", "-topk8", "-in", "plain.pem", "-v2", "aes-256-cbc",
        "-passout", "pass:x", "-out", "p8.pem",
        cwd=tmp_path,
    )  # fmt: skip
    data = (tmp_path / "p8.pem").read_bytes()
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in data
    assert public_key_matches(load_private_key(data, b"x"), ec_key)


def test_der_keys_load_in_pkcs8_and_pkcs1(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    for key, fmt in [
        (rsa_key, serialization.PrivateFormat.PKCS8),
        (rsa_key, serialization.PrivateFormat.TraditionalOpenSSL),
        (ec_key, serialization.PrivateFormat.PKCS8),
        (ec_key, serialization.PrivateFormat.TraditionalOpenSSL),
    ]:
        data = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        assert public_key_matches(load_private_key(data), key)


def test_encrypted_der_key_needs_passphrase(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = ec_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert public_key_matches(load_private_key(data, b"pw"), ec_key)
    with pytest.raises(CryptoError, match="enter its passphrase"):
        load_private_key(data)
    with pytest.raises(CryptoError, match="Wrong passphrase"):
        load_private_key(data, b"bad")


def test_load_private_key_tolerates_crlf_bom_and_surrounding_text(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    body = private_key_to_pem(ec_key).replace(b"\n", b"\r\n")
    data = b"\xef\xbb\xbfHere is my key:\r\n" + body + b"\r\nthanks!\r\n"
    assert public_key_matches(load_private_key(data), ec_key)


def test_load_private_key_picks_key_out_of_combined_pem(pki: Pki) -> None:
    data = pem(pki.leaf) + pem(pki.intermediate) + private_key_to_pem(pki.leaf_key)
    assert public_key_matches(load_private_key(data), pki.leaf)


@pytest.mark.parametrize(
    "data",
    [b"hello world", b"\x30\x03\x02\x01\x01", b"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"],
)  # fmt: skip
def test_load_private_key_rejects_data_without_key(data: bytes) -> None:
    with pytest.raises(CryptoError, match=r"^No private key found"):
        load_private_key(data)


def test_load_private_key_rejects_certificate_only(pki: Pki) -> None:
    with pytest.raises(CryptoError, match=r"^No private key found"):
        load_private_key(pem(pki.leaf))


def test_load_private_key_rejects_empty_input() -> None:
    with pytest.raises(CryptoError, match="empty"):
        load_private_key(b"  \n")


def test_load_private_key_reports_truncated_pem(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = private_key_to_pem(ec_key)
    with pytest.raises(CryptoError, match="truncated: '-----END PRIVATE KEY-----' is missing"):
        load_private_key(data[: len(data) // 2])


def test_load_private_key_reports_damaged_block(ec_key: ec.EllipticCurvePrivateKey) -> None:
    lines = private_key_to_pem(ec_key).splitlines(keepends=True)
    lines[1] = b"!!" + lines[1][2:]
    with pytest.raises(CryptoError, match="damaged") as caught:
        load_private_key(b"".join(lines))
    assert lines[2].strip().decode() not in str(caught.value)


def test_load_private_key_rejects_two_keys(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = private_key_to_pem(rsa_key) + private_key_to_pem(ec_key)
    with pytest.raises(CryptoError, match="more than one private key"):
        load_private_key(data)


def test_error_messages_never_contain_key_material(rsa_key: rsa.RSAPrivateKey) -> None:
    data = private_key_to_pem(rsa_key, b"pw")
    secrets = [line.decode() for line in data.splitlines()[1:-1]]
    for attempt in (data, data[:-40], data.replace(b"M", b"*", 1)):
        for passphrase in (None, b"wrong"):
            with pytest.raises(CryptoError) as caught:
                load_private_key(attempt, passphrase)
            assert not any(secret in str(caught.value) for secret in secrets)


def test_load_csr_accepts_der_and_new_certificate_request_label(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    csr = create_csr(key=ec_key, subject=SubjectFields("a.example"), sans=[])
    legacy = csr_to_pem(csr).replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    assert load_csr(legacy) == csr
    assert load_csr(csr.public_bytes(serialization.Encoding.DER)) == csr


def test_load_csr_rejects_tampered_request(ec_key: ec.EllipticCurvePrivateKey) -> None:
    csr = create_csr(key=ec_key, subject=SubjectFields("mail.example.com"), sans=[])
    tampered = csr.public_bytes(serialization.Encoding.DER).replace(b"mail.example.com", b"evil.example.com")
    with pytest.raises(CryptoError, match="signature is invalid"):
        load_csr(tampered)


def test_load_csr_explains_other_inputs(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="This is a certificate, not a certificate signing"):
        load_csr(pem(pki.leaf))
    with pytest.raises(CryptoError, match="This is a private key"):
        load_csr(private_key_to_pem(pki.intermediate_key))
    with pytest.raises(CryptoError, match="not a certificate signing request"):
        load_csr(b"\x01\x02garbage")


def test_parse_certificates_reads_many_pem_blocks_with_text_and_drops_duplicates(
    pki: Pki,
) -> None:
    data = (
        b"subject=CN=mail.example.com\n"
        + pem(pki.leaf)
        + b"\nBag Attributes: friendlyName: x\n"
        + pem(pki.intermediate)
        + pem(pki.leaf)
        + b"-- end --\n"
    )
    assert parse_certificates(data) == [pki.leaf, pki.intermediate]


def test_parse_certificates_accepts_crlf_bom_and_x509_label(pki: Pki) -> None:
    legacy = pem(pki.intermediate).replace(b"CERTIFICATE", b"X509 CERTIFICATE")
    data = b"\xef\xbb\xbf" + (pem(pki.leaf) + legacy).replace(b"\n", b"\r\n")
    assert parse_certificates(data) == [pki.leaf, pki.intermediate]


def test_parse_certificates_accepts_pem_on_one_line(pki: Pki) -> None:
    one_line = pem(pki.leaf).replace(b"\n", b" ")
    assert parse_certificates(one_line) == [pki.leaf]


def test_parse_certificates_reads_der(pki: Pki) -> None:
    assert parse_certificates(der(pki.leaf)) == [pki.leaf]


def test_parse_certificates_reads_pkcs7_pem_and_der(pki: Pki) -> None:
    certs = [pki.leaf, pki.intermediate, pki.root]
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        data = pkcs7.serialize_certificates(certs, encoding)
        # DER sorts a SET OF, so PKCS#7 does not keep the original order.
        assert sorted(map(der, parse_certificates(data))) == sorted(map(der, certs))


@pytest.mark.parametrize("data", [b"", b" \r\n\t"])
def test_parse_certificates_rejects_empty_input(data: bytes) -> None:
    with pytest.raises(CryptoError, match="empty"):
        parse_certificates(data)


@pytest.mark.parametrize("data", [b"just some text", bytes(range(256)), b"\x30\x82\xff\xff\x00", b"MIIB" * 30])
def test_parse_certificates_rejects_garbage(data: bytes) -> None:
    with pytest.raises(CryptoError, match=r"^This is not a certificate: expected PEM, DER or"):
        parse_certificates(data)


def test_parse_certificates_rejects_truncated_pem(pki: Pki) -> None:
    data = pem(pki.leaf)
    with pytest.raises(
        CryptoError,
        match=r"^The PEM data is truncated: '-----END CERTIFICATE-----' is missing\.$",
    ):
        parse_certificates(data[:-30])


def test_parse_certificates_rejects_truncated_block_followed_by_complete_one(
    pki: Pki,
) -> None:
    cut = pem(pki.leaf)[:200]
    with pytest.raises(CryptoError, match="truncated"):
        parse_certificates(cut + b"\n" + pem(pki.intermediate))


def test_parse_certificates_rejects_corrupted_base64(pki: Pki) -> None:
    lines = pem(pki.leaf).splitlines(keepends=True)
    lines[3] = lines[3][:10] + b"#$%" + lines[3][13:]
    with pytest.raises(CryptoError, match=r"^The certificate PEM block is damaged \(bad base64 or DER\)\.$"):
        parse_certificates(b"".join(lines))


def test_parse_certificates_rejects_valid_base64_with_broken_der(pki: Pki) -> None:
    broken = base64.encodebytes(der(pki.leaf)[:-20])
    data = b"-----BEGIN CERTIFICATE-----\n" + broken + b"-----END CERTIFICATE-----\n"
    with pytest.raises(CryptoError, match="certificate PEM block is damaged"):
        parse_certificates(data)


def test_parse_certificates_says_a_key_is_not_a_certificate(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    message = "^This is a private key, not a certificate.$"
    with pytest.raises(CryptoError, match=message):
        parse_certificates(private_key_to_pem(ec_key))
    der_key = ec_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(CryptoError, match=message):
        parse_certificates(der_key)


def test_parse_certificates_says_a_csr_is_not_a_certificate(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    csr = create_csr(key=ec_key, subject=SubjectFields("a.example"), sans=[])
    message = r"^This is a certificate signing request \(CSR\), not a certificate.$"
    with pytest.raises(CryptoError, match=message):
        parse_certificates(csr_to_pem(csr))
    with pytest.raises(CryptoError, match=message):
        parse_certificates(csr.public_bytes(serialization.Encoding.DER))


def test_parse_certificates_points_pkcs12_uploads_elsewhere(pki: Pki) -> None:
    data = to_pkcs12(name="x", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"pw")
    with pytest.raises(CryptoError, match="PKCS#12"):
        parse_certificates(data)


def test_parse_bundle_reads_certificates_and_key_in_any_order(pki: Pki) -> None:
    key_pem = private_key_to_pem(pki.leaf_key)
    chain_pem = pem(pki.leaf) + pem(pki.intermediate) + pem(pki.root)
    for data in (chain_pem + key_pem, key_pem + chain_pem):
        bundle = parse_bundle(data)
        assert bundle.certificates == [pki.leaf, pki.intermediate, pki.root]
        assert bundle.key is not None
        assert public_key_matches(bundle.key, pki.leaf)


def test_parse_bundle_decrypts_key_with_passphrase(pki: Pki) -> None:
    data = private_key_to_pem(pki.leaf_key, b"pw") + pem(pki.leaf)
    assert parse_bundle(data, b"pw").key is not None
    with pytest.raises(CryptoError, match="enter its passphrase"):
        parse_bundle(data)


def test_parse_bundle_without_key_has_no_key(pki: Pki) -> None:
    assert parse_bundle(pem(pki.leaf)).key is None
    assert parse_bundle(der(pki.leaf)) == Bundle([pki.leaf], None)


def test_parse_bundle_requires_a_certificate(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="This is a private key, not a certificate"):
        parse_bundle(private_key_to_pem(pki.leaf_key))


def test_parse_pkcs12_rejects_wrong_password(pki: Pki) -> None:
    data = to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"a")
    with pytest.raises(CryptoError, match=r"^Wrong password for the PKCS#12 file\.$"):
        parse_pkcs12(data, b"b")


def test_parse_pkcs12_asks_for_missing_password(pki: Pki) -> None:
    data = to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"a")
    for missing in (None, b""):
        with pytest.raises(CryptoError, match=r"^The PKCS#12 file is password-protected"):
            parse_pkcs12(data, missing)


def test_parse_pkcs12_reads_unprotected_file_without_password(pki: Pki) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"m", pki.leaf_key, pki.leaf, [pki.intermediate], serialization.NoEncryption()
    )
    assert parse_pkcs12(data, None).certificates == [pki.leaf, pki.intermediate]
    # A password typed for an unprotected file is harmless.
    assert parse_pkcs12(data, b"typed anyway").key is not None


@needs_openssl
def test_parse_pkcs12_reads_openssl_empty_password_file(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(pem(pki.leaf))
    (tmp_path / "key.pem").write_bytes(private_key_to_pem(pki.leaf_key))
    run_openssl(
        "pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem",
        "-passout", "pass:", "-out", "empty.pfx",
        cwd=tmp_path,
    )  # fmt: skip
    bundle = parse_pkcs12((tmp_path / "empty.pfx").read_bytes(), None)
    assert bundle.certificates == [pki.leaf]
    assert bundle.key is not None


def test_parse_pkcs12_puts_certificate_matching_key_first(pki: Pki) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"m",
        pki.leaf_key,
        None,
        [pki.root, pki.intermediate, pki.leaf],
        serialization.BestAvailableEncryption(b"pw"),
    )
    bundle = parse_pkcs12(data, b"pw")
    assert bundle.certificates[0] == pki.leaf
    assert set(bundle.certificates[1:]) == {pki.root, pki.intermediate}


@pytest.mark.parametrize("data", [b"", b"not a pfx", b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x03"])
def test_parse_pkcs12_rejects_non_pkcs12(data: bytes) -> None:
    with pytest.raises(CryptoError, match=r"^This is not a PKCS#12 \(\.pfx/\.p12\) file\.$"):
        parse_pkcs12(data, b"pw")


def test_parse_pkcs12_rejects_certificate_der(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="not a PKCS#12"):
        parse_pkcs12(der(pki.leaf), None)


def test_looks_like_pkcs12(pki: Pki) -> None:
    data = to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"a")
    assert looks_like_pkcs12(data)
    assert not looks_like_pkcs12(der(pki.leaf))
    assert not looks_like_pkcs12(pem(pki.leaf))
    assert not looks_like_pkcs12(b"\x30")


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = [data[:n] for n in (1, 2, 4, 10, len(data) // 2, len(data) - 1)]
    flips = []
    for _ in range(12):
        position = rng.randrange(len(data))
        flips.append(data[:position] + bytes([rng.randrange(256)]) + data[position + 1 :])
    return cuts + flips


def test_public_parsers_raise_only_crypto_error_on_damaged_input(pki: Pki) -> None:
    rng = random.Random(1234)
    p12 = to_pkcs12(name="m", key=pki.leaf_key, cert=pki.leaf, chain=[], password=b"a")
    samples = [
        der(pki.leaf),
        pem(pki.leaf),
        p12,
        pkcs7.serialize_certificates([pki.leaf], serialization.Encoding.DER),
        private_key_to_pem(pki.intermediate_key, b"pw"),
    ]
    parsers: list[Callable[[bytes], object]] = [
        parse_certificates,
        lambda d: load_private_key(d, b"pw"),
        load_csr,
        lambda d: parse_pkcs12(d, b"a"),
        parse_bundle,
        lambda d: convert(d, to="pem", password=b"a", passphrase=b"pw"),
    ]
    for sample in samples:
        for mutated in _mutations(sample, rng):
            for parse in parsers:
                with contextlib.suppress(CryptoError):  # anything else fails the test
                    parse(mutated)
