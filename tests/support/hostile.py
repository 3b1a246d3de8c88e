"""Hostile certificates and files, made at test time by patching DER: what real-world uploads throw at the parsers.

- ``unsupported_key_certificate``: a GOST R 34.10-2012 key (an OID ``cryptography`` cannot load) in the SPKI.
- ``x400_san_certificate`` / ``edi_party_san_certificate``: SANs of types ``cryptography`` refuses to read.
- ``malformed_issuer_certificate``: an issuer name whose UTF8String is not UTF-8.
- ``same_subject_bundle``: about 1 MB of self-signed certificates that all share one subject.
- ``same_name_chain``: certificates sharing one name, each signed by the next: the costliest chain to order.
- ``with_pkcs12_mac_iterations`` / ``with_pkcs8_iterations``: a file claiming an expensive password hashing;
  ``pkcs12_hiding_a_costly_key``: one whose costly count sits inside an encrypted part.

Each hostile certificate is signed again after patching (by the issuing CA's key), so everything else about it is
sound. The DER helpers here are independent of ``repository.pki.der``: the inputs must not depend on the code under
test. Nothing here is committed key material.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes as PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import ExtensionOID

from tests.support.factories import CA, Key, name

GOST_2012_256 = "1.2.643.7.1.1.1.1"
_ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
_ORIGINAL_ISSUER_CN = "Hostile Issuer XXXX"


def tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def split(data: bytes) -> list[bytes]:
    """The whole encodings of the elements inside one definite-length element (its children)."""
    pos, end = _content_start(data, 0)
    children = []
    while pos < end:
        _start, child_end = _content_start(data, pos)
        children.append(data[pos:child_end])
        pos = child_end
    return children


def _content_start(data: bytes, pos: int) -> tuple[int, int]:
    """(content start, element end) of the definite-length element at ``pos``."""
    first = data[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    count = first & 0x7F
    length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
    return pos + 2 + count, pos + 2 + count + length


def oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def resign(tbs: bytes, signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return x509.load_der_x509_certificate(tlv(0x30, tbs + _ECDSA_SHA256 + tlv(0x03, b"\x00" + signature)))


def _tbs_fields(cert: x509.Certificate) -> list[bytes]:
    return split(cert.tbs_certificate_bytes)  # [version, serial, signature, issuer, validity, subject, spki, ext]


def _leaf(ca: CA, hostname: str, **kwargs: object) -> x509.Certificate:
    return ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key(), [hostname], **kwargs)  # type: ignore[arg-type]


def _signer(ca: CA) -> ec.EllipticCurvePrivateKey:
    assert isinstance(ca.intermediate_key, ec.EllipticCurvePrivateKey)
    return ca.intermediate_key


def unsupported_key_certificate(ca: CA, hostname: str = "gost.example.com") -> x509.Certificate:
    """Issued by ``ca``'s intermediate, its key a GOST R 34.10-2012 one: ``public_key()`` raises."""
    fields = _tbs_fields(_leaf(ca, hostname))
    parameters = tlv(0x30, oid("1.2.643.7.1.2.1.1.1") + oid("1.2.643.7.1.1.2.2"))
    algorithm = tlv(0x30, oid(GOST_2012_256) + parameters)
    fields[6] = tlv(0x30, algorithm + tlv(0x03, b"\x00" + tlv(0x04, bytes(range(64)))))
    return resign(tlv(0x30, b"".join(fields)), _signer(ca))


def _with_san(ca: CA, hostname: str, extra_general_name: bytes, public_key: PublicKey | None) -> x509.Certificate:
    """A leaf whose SAN holds its DNS name and ``extra_general_name`` (raw DER, e.g. an x400Address)."""
    general_names = tlv(0x82, hostname.encode("ascii")) + extra_general_name
    now = datetime.now(UTC) - timedelta(minutes=1)
    return (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.intermediate.subject)
        .public_key(public_key or ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=90))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, tlv(0x30, general_names)),
            critical=False,
        )
        .sign(ca.intermediate_key, hashes.SHA256())
    )


def x400_san_certificate(
    ca: CA, hostname: str = "x400.example.com", public_key: PublicKey | None = None
) -> x509.Certificate:
    # x400Address [3] ORAddress: SEQUENCE { BuiltInStandardAttributes SEQUENCE { country-name [APPLICATION 1] } }
    country = tlv(0x61, tlv(0x13, b"DE"))
    return _with_san(ca, hostname, tlv(0xA3, tlv(0x30, country)), public_key)


def edi_party_san_certificate(
    ca: CA, hostname: str = "edi.example.com", public_key: PublicKey | None = None
) -> x509.Certificate:
    # ediPartyName [5] SEQUENCE { partyName [1] DirectoryString }
    return _with_san(ca, hostname, tlv(0xA5, tlv(0xA1, tlv(0x0C, b"Hostile Party"))), public_key)


def malformed_issuer_certificate(
    ca: CA, hostname: str = "broken-issuer.example.com", public_key: PublicKey | None = None
) -> x509.Certificate:
    """Its issuer's CN is a UTF8String holding bytes that are not UTF-8; subject, key and signature are sound."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(name(_ORIGINAL_ISSUER_CN))
        .public_key(public_key or ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(ca.intermediate_key, hashes.SHA256())
    )
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(b"XXXX") == 1
    return resign(tbs.replace(b"XXXX", b"\xff\xfe\xfd\xfc"), _signer(ca))


def hostile_certificates(ca: CA) -> dict[str, tuple[x509.Certificate, str]]:
    """Each hostile certificate with the words the panel must show about it."""
    return {
        "unsupported key": (
            unsupported_key_certificate(ca),
            f"uses a key type the panel does not support: GOST R 34.10-2012 (256 bits) ({GOST_2012_256})",
        ),
        "x400Address SAN": (x400_san_certificate(ca), "a name of a type the panel cannot read (x400Address"),
        "ediPartyName SAN": (edi_party_san_certificate(ca), "a name of a type the panel cannot read (x400Address"),
        "malformed issuer": (malformed_issuer_certificate(ca), "issuer name is malformed and cannot be read"),
    }


# --- expensive uploads --------------------------------------------------------------------------------------------


def _self_signed(subject: x509.Name, key: ec.EllipticCurvePrivateKey, signer: Key) -> x509.Certificate:
    now = datetime.now(UTC) - timedelta(minutes=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .sign(signer, hashes.SHA256())
    )


def same_subject_bundle(size: int = 1024 * 1024 - 1024) -> bytes:
    """Up to ``size`` bytes of PEM certificates that all share one subject, each self-signed by its own key."""
    subject = name("same.example.com")
    parts: list[bytes] = []
    total = 0
    while True:
        key = ec.generate_private_key(ec.SECP256R1())
        block = _self_signed(subject, key, key).public_bytes(serialization.Encoding.PEM)
        if total + len(block) > size:
            return b"".join(parts)
        parts.append(block)
        total += len(block)


def same_name_chain(count: int) -> list[x509.Certificate]:
    """``count`` certificates sharing one name, in path order: certificate i is signed by the key of certificate
    i+1. Uploaded as ``[leaf, *reversed(rest)]``, a search that tries candidates in turn tries nearly all."""
    subject = name("same-chain.example.com")
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(count + 1)]
    return [_self_signed(subject, keys[i], keys[i + 1]) for i in range(count)]


def _replace_integer_at(data: bytes, path: list[int], value: int) -> bytes:
    """``data`` with the INTEGER reached by child indexes ``path`` replaced by ``value`` (lengths rebuilt)."""
    if not path:
        assert data[0] == 0x02
        return integer(value)
    children = split(data)
    children[path[0]] = _replace_integer_at(children[path[0]], path[1:], value)
    return tlv(data[0], b"".join(children))


def with_pkcs12_mac_iterations(p12: bytes, iterations: int) -> bytes:
    """The PKCS#12 file claiming ``iterations`` for its MAC (PFX -> macData -> iterations)."""
    return _replace_integer_at(p12, [2, 2], iterations)


def with_pkcs8_iterations(encrypted_key_der: bytes, iterations: int) -> bytes:
    """An encrypted PKCS#8 key claiming ``iterations`` for PBKDF2
    (EncryptedPrivateKeyInfo -> PBES2 AlgorithmIdentifier -> params -> PBKDF2 AlgorithmIdentifier -> params)."""
    return _replace_integer_at(encrypted_key_der, [0, 1, 0, 1, 1], iterations)


def pkcs12_hiding_a_costly_key(key: Key, password: bytes, iterations: int) -> bytes:
    """A PKCS#12 file (no MAC) whose only part is encrypted cheaply (PBES2, 2,048 iterations) and holds a shrouded
    key bag claiming ``iterations``: the costly count cannot be seen before the part is decrypted."""
    encrypted_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    bag = tlv(0x30, oid("1.2.840.113549.1.12.10.1.2") + tlv(0xA0, with_pkcs8_iterations(encrypted_key, iterations)))
    safe_contents = tlv(0x30, bag)
    salt, iv = os.urandom(8), os.urandom(16)
    aes_key = PBKDF2HMAC(hashes.SHA256(), 32, salt, 2048).derive(password)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(safe_contents) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    prf = tlv(0x30, oid("1.2.840.113549.2.9") + b"\x05\x00")
    pbkdf2 = tlv(0x30, oid("1.2.840.113549.1.5.12") + tlv(0x30, tlv(0x04, salt) + integer(2048) + prf))
    scheme = tlv(0x30, oid("2.16.840.1.101.3.4.1.42") + tlv(0x04, iv))
    pbes2 = tlv(0x30, oid("1.2.840.113549.1.5.13") + tlv(0x30, pbkdf2 + scheme))
    encrypted_content_info = tlv(0x30, oid("1.2.840.113549.1.7.1") + pbes2 + tlv(0x80, ciphertext))
    encrypted_data = tlv(0x30, oid("1.2.840.113549.1.7.6") + tlv(0xA0, tlv(0x30, integer(0) + encrypted_content_info)))
    authenticated_safe = tlv(0x30, encrypted_data)
    auth_safe = tlv(0x30, oid("1.2.840.113549.1.7.1") + tlv(0xA0, tlv(0x04, authenticated_safe)))
    return tlv(0x30, integer(3) + auth_safe)
