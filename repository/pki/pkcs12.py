"""Reading PKCS#12 (.pfx/.p12) files ourselves, so that every costly step is known before it runs.

OpenSSL's reader (behind ``cryptography``'s ``load_pkcs12``) hashes the password as often as the file says, also
for parts hidden inside encrypted ones, and then checks an RSA key with primality tests (9 s for 8192 bits). Here
each key derivation is charged to a ``limits.KdfBudget`` before it runs, at most ``limits.MAX_RC2_BYTES`` are
decrypted with the slow legacy cipher, and the key comes back as PKCS#8 bytes for ``parse`` to load and check.

Read as OpenSSL's ``PKCS12_parse`` reads (RFC 7292): the MAC is checked first (PKCS#12 key derivation with SHA-1 or
SHA-2); ``data`` and ``encryptedData`` parts are read, others skipped; the first key bag is the key; every X.509
certificate bag is a certificate. Encryption: PBES2 (PBKDF2 with HMAC-SHA-1/SHA-2, AES-CBC or 3DES-CBC) and the
PKCS#12 PBEs (3DES, 2-key 3DES, RC2, RC4 with SHA-1). Passwords are BMPStrings for the PKCS#12 derivation and bytes
for PBKDF2; no password and the empty password differ, as in OpenSSL.

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes

from repository.errors import CryptoError
from repository.pki import der, limits, rc2

NOT_PKCS12 = "This is not a PKCS#12 (.pfx/.p12) file."
UNSUPPORTED = "This PKCS#12 file uses an unsupported algorithm; re-export it with AES encryption."
_DAMAGED = "This PKCS#12 file is damaged: its structure cannot be read."
_WRONG = "Wrong password for the PKCS#12 file."
_ASK = "The PKCS#12 file is password-protected: enter its password."

_DATA = "1.2.840.113549.1.7.1"
_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
_KEY_BAG = "1.2.840.113549.1.12.10.1.1"
_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
_SAFE_CONTENTS_BAG = "1.2.840.113549.1.12.10.1.6"
_X509_CERTIFICATE = "1.2.840.113549.1.9.22.1"
_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_BAG_NESTING = 3

_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "1.2.840.113549.2.5": "md5",
}
_HMACS = {
    "1.2.840.113549.2.7": "sha1",
    "1.2.840.113549.2.8": "sha224",
    "1.2.840.113549.2.9": "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
}


def _rc4(key: bytes, _iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(ARC4(key), mode=None).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _cbc(algorithm: Callable[[bytes], CipherAlgorithm]) -> Callable[[bytes, bytes, bytes], bytes]:
    def decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
        decryptor = Cipher(algorithm(key), modes.CBC(iv)).decryptor()
        return decryptor.update(data) + decryptor.finalize()

    return decrypt


def _rc2(bits: int) -> Callable[[bytes, bytes, bytes], bytes]:
    def decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
        if len(data) > limits.MAX_RC2_BYTES:
            raise CryptoError(
                f"This PKCS#12 file encrypts {len(data):,} bytes with RC2, a legacy cipher the panel decrypts "
                f"slowly; it reads up to {limits.MAX_RC2_BYTES:,}. Export it again with AES (openssl pkcs12 "
                "-export without -legacy)."
            )
        return rc2.cbc_decrypt(key, bits, iv, data)

    return decrypt


_3DES, _AES = _cbc(TripleDES), _cbc(algorithms.AES)
# PKCS#12 PBE (RFC 7292 appendix C): OID -> (key length, IV length, decryption); the derivation hashes with SHA-1.
_PKCS12_PBES: dict[str, tuple[int, int, Callable[[bytes, bytes, bytes], bytes]]] = {
    "1.2.840.113549.1.12.1.1": (16, 0, _rc4),
    "1.2.840.113549.1.12.1.2": (5, 0, _rc4),
    "1.2.840.113549.1.12.1.3": (24, 8, _3DES),
    "1.2.840.113549.1.12.1.4": (16, 8, _3DES),
    "1.2.840.113549.1.12.1.5": (16, 8, _rc2(128)),
    "1.2.840.113549.1.12.1.6": (5, 8, _rc2(40)),
}
# PBES2 encryption schemes: OID -> (key length, decryption).
_PBES2_CIPHERS: dict[str, tuple[int, Callable[[bytes, bytes, bytes], bytes]]] = {
    "2.16.840.1.101.3.4.1.2": (16, _AES),
    "2.16.840.1.101.3.4.1.22": (24, _AES),
    "2.16.840.1.101.3.4.1.42": (32, _AES),
    "1.2.840.113549.3.7": (24, _3DES),
}


@dataclass
class Contents:
    key: bytes | None = None  # PrivateKeyInfo (PKCS#8, unencrypted) of the first key bag
    certificates: list[bytes] = field(default_factory=list)  # DER of every X.509 certificate bag, in file order


class _WrongPassword(Exception):
    """A decryption gave no valid padding or structure: the password (or the file) is wrong."""


class _Unsupported(CryptoError):
    """An algorithm this module does not do."""

    def __init__(self) -> None:
        super().__init__(UNSUPPORTED)


def read(data: bytes, password: bytes | None) -> Contents:
    """The key and certificates of a PKCS#12 file; CryptoError with an admin sentence for anything else.

    Unprotected and empty-password files are common, so after ``password`` no password and the empty one are
    tried (a password typed for such a file is harmless).
    """
    budget = limits.KdfBudget("PKCS#12 file")
    elements = der.Budget()
    try:
        pfx = der.parse_prefix(data, budget=elements)
        auth_safe = _data_content(pfx.children[1]) if len(pfx.children) >= 2 else None
        if pfx.tag != der.SEQUENCE or der.integer(pfx.children[0]) != 3 or auth_safe is None:
            raise CryptoError(NOT_PKCS12)
        mac = pfx.children[2] if len(pfx.children) >= 3 else None
        attempts: list[bytes | None] = [password, None, b""] if password else [None, b""]
        if mac is not None:
            chosen = _password_by_mac(mac, auth_safe, attempts, budget)
            try:
                return _read_parts(auth_safe, chosen, budget, elements)
            except _WrongPassword:
                raise CryptoError(_WRONG) from None  # the MAC's password does not decrypt the parts
        for attempt in attempts:
            try:
                return _read_parts(auth_safe, attempt, budget, elements)
            except _WrongPassword:
                continue
        raise CryptoError(_WRONG if password else _ASK)
    except (der.DerError, IndexError):
        raise CryptoError(_DAMAGED) from None


def _data_content(content_info: der.Element) -> bytes | None:
    """The bytes of a ``data`` ContentInfo: SEQUENCE { id-data, [0] EXPLICIT OCTET STRING }."""
    if der.algorithm_oid(content_info) != _DATA or len(content_info.children) < 2:
        return None
    explicit = content_info.children[1]
    if explicit.tag != 0xA0 or not explicit.children:
        raise der.DerError("data without content")
    return der.octets(explicit.children[0])


def _bmp(password: bytes | None) -> bytes:
    """The password as the PKCS#12 derivation takes it: a BMPString with its terminating zero; none for None."""
    if password is None:
        return b""
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        text = password.decode("latin-1")  # OpenSSL falls back to one byte per character
    return text.encode("utf-16-be") + b"\x00\x00"


def _fill(value: bytes, block: int) -> bytes:
    """``value`` repeated to whole blocks of ``block`` bytes (RFC 7292 appendix B.2, steps 2 and 3)."""
    if not value:
        return b""
    length = block * -(-len(value) // block)
    return (value * -(-length // len(value)))[:length]


def _pkcs12_kdf(
    digest: str, password: bytes, salt: bytes, purpose: int, iterations: int, size: int, budget: limits.KdfBudget
) -> bytes:
    """RFC 7292 appendix B.2; ``purpose`` 1 = key, 2 = IV, 3 = MAC key. Charged to ``budget`` before it runs."""
    hash_new = getattr(hashlib, digest)
    u, v = hash_new().digest_size, hash_new().block_size
    blocks = -(-size // u)
    budget.spend(iterations, blocks=blocks)
    diversifier = bytes([purpose]) * v
    work = bytearray(_fill(salt, v) + _fill(password, v))
    output = b""
    for _ in range(blocks):
        value = hash_new(diversifier + work).digest()
        for _ in range(iterations - 1):
            value = hash_new(value).digest()
        output += value
        addend = int.from_bytes(_fill(value, v), "big") + 1
        for offset in range(0, len(work), v):
            chunk = (int.from_bytes(work[offset : offset + v], "big") + addend) % (1 << (8 * v))
            work[offset : offset + v] = chunk.to_bytes(v, "big")
    return output[:size]


def _password_by_mac(
    mac: der.Element, content: bytes, attempts: list[bytes | None], budget: limits.KdfBudget
) -> bytes | None:
    """The first attempt whose MAC matches. MacData ::= SEQUENCE { DigestInfo, macSalt, iterations DEFAULT 1 }."""
    digest_info, salt = mac.children[0], der.octets(mac.children[1])
    iterations = der.integer(mac.children[2]) if len(mac.children) > 2 else 1
    digest = _DIGESTS.get(der.algorithm_oid(digest_info.children[0]) or "")
    if digest is None:
        raise _Unsupported  # PBMAC1 and the rare digests OpenSSL 3.0 cannot use either
    expected = der.octets(digest_info.children[1])
    size = getattr(hashlib, digest)().digest_size
    for number, attempt in enumerate(attempts):
        try:
            key = _pkcs12_kdf(digest, _bmp(attempt), salt, 3, iterations, size, budget)
        except CryptoError:
            if number == 0:
                raise  # the file itself is too costly to open
            break  # the fallbacks ran out of budget: the typed password was simply wrong
        if hmac.compare_digest(hmac.new(key, content, digest).digest(), expected):
            return attempt
    raise CryptoError(_WRONG if attempts[0] else _ASK)


def _read_parts(content: bytes, password: bytes | None, budget: limits.KdfBudget, elements: der.Budget) -> Contents:
    """AuthenticatedSafe ::= SEQUENCE OF ContentInfo; ``data`` and ``encryptedData`` parts hold the bags."""
    contents = Contents()
    for part in der.parse(content, budget=elements).children:
        kind = der.algorithm_oid(part)
        if kind == _DATA:
            bags = der.parse(_data_content(part) or b"", budget=elements)
        elif kind == _ENCRYPTED_DATA:
            plain = _decrypt_encrypted_data(part, password, budget)
            if not plain:
                continue
            bags = _parse_decrypted(plain, elements)
        else:
            continue  # envelopedData and the like: OpenSSL skips them too
        _read_bags(bags, password, budget, contents, 0)
    return contents


def _parse_decrypted(plain: bytes, elements: der.Budget) -> der.Element:
    try:
        return der.parse(plain, budget=elements)
    except der.DerError:
        if elements.left < 0:
            raise
        raise _WrongPassword from None  # garbage that happened to have valid padding


def _read_bags(
    safe_contents: der.Element, password: bytes | None, budget: limits.KdfBudget, contents: Contents, depth: int
) -> None:
    for bag in safe_contents.children:
        kind, value = der.algorithm_oid(bag), bag.children[1].children[0]
        if kind == _KEY_BAG and contents.key is None:
            contents.key = value.encoding
        elif kind == _SHROUDED_KEY_BAG and contents.key is None:
            # EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData OCTET STRING }
            contents.key = _decrypt(value.children[0], der.octets(value.children[1]), password, budget)
        elif kind == _CERT_BAG and der.algorithm_oid(value) == _X509_CERTIFICATE:
            contents.certificates.append(der.octets(value.children[1].children[0]))
            limits.refuse_too_many_certificates(len(contents.certificates))
        elif kind == _SAFE_CONTENTS_BAG and depth < _BAG_NESTING:
            _read_bags(value, password, budget, contents, depth + 1)


def _decrypt_encrypted_data(part: der.Element, password: bytes | None, budget: limits.KdfBudget) -> bytes:
    """EncryptedData ::= SEQUENCE { version, EncryptedContentInfo SEQUENCE { contentType,
    contentEncryptionAlgorithm, encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL } }."""
    encrypted_content_info = part.children[1].children[0].children[1]
    if len(encrypted_content_info.children) < 3:
        return b""
    algorithm, encrypted = encrypted_content_info.children[1], encrypted_content_info.children[2]
    return _decrypt(algorithm, der.octets(encrypted), password, budget)


def _decrypt(algorithm: der.Element, data: bytes, password: bytes | None, budget: limits.KdfBudget) -> bytes:
    """Decrypt with a PKCS#12 PBE or PBES2; the padding removed. _WrongPassword when it does not fit."""
    oid = der.algorithm_oid(algorithm)
    if oid in _PKCS12_PBES:
        key_size, iv_size, cipher = _PKCS12_PBES[oid]
        params = algorithm.children[1].children
        salt, iterations = der.octets(params[0]), der.integer(params[1])
        secret = _bmp(password)
        key = _pkcs12_kdf("sha1", secret, salt, 1, iterations, key_size, budget)
        iv = _pkcs12_kdf("sha1", secret, salt, 2, iterations, iv_size, budget) if iv_size else b""
        block = 8 if iv_size else 1
    elif oid == _PBES2:
        key, iv, cipher, block = _pbes2(algorithm.children[1], password, budget)
    else:
        raise _Unsupported
    if len(data) % block:
        raise _WrongPassword
    try:
        plain = cipher(key, iv, data)
    except ValueError:
        raise _WrongPassword from None
    return _unpad(plain, block)


def _pbes2(
    params: der.Element, password: bytes | None, budget: limits.KdfBudget
) -> tuple[bytes, bytes, Callable[[bytes, bytes, bytes], bytes], int]:
    """PBES2-params ::= SEQUENCE { keyDerivationFunc (PBKDF2), encryptionScheme }: (key, IV, cipher, block)."""
    kdf, scheme = params.children[0], params.children[1]
    scheme_oid = der.algorithm_oid(scheme) or ""
    if der.algorithm_oid(kdf) != _PBKDF2 or scheme_oid not in _PBES2_CIPHERS:
        raise _Unsupported
    # PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount, keyLength OPTIONAL, prf DEFAULT hmacWithSHA1 }
    fields = kdf.children[1].children
    if fields[0].tag != der.OCTET_STRING:
        raise _Unsupported
    salt, iterations = der.octets(fields[0]), der.integer(fields[1])
    prf = next((field for field in fields[2:] if field.tag == der.SEQUENCE), None)
    digest = _HMACS.get(der.algorithm_oid(prf) or "") if prf is not None else "sha1"
    if digest is None:
        raise _Unsupported
    key_size, cipher = _PBES2_CIPHERS[scheme_oid]
    budget.spend(iterations, blocks=-(-key_size // getattr(hashlib, digest)().digest_size))
    key = hashlib.pbkdf2_hmac(digest, password or b"", salt, iterations, key_size)
    iv = der.octets(scheme.children[1])
    block = 16 if cipher is _AES else 8
    if len(iv) != block:
        raise der.DerError("bad IV")
    return key, iv, cipher, block


def _unpad(plain: bytes, block: int) -> bytes:
    if block == 1:
        return plain
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= block or plain[-pad:] != bytes([pad]) * pad:
        raise _WrongPassword
    return plain[:-pad]


class WrongPassword(Exception):
    """Raised by ``decrypt_private_key`` when the password does not decrypt the key."""


def decrypt_private_key(data: bytes, password: bytes) -> bytes | None:
    """The PrivateKeyInfo inside an EncryptedPrivateKeyInfo (PKCS#8), decrypted here so that neither the password
    hashing nor the key it hides escapes the limits; None when its encryption is one this module does not do
    (scrypt, the DES/MD5 PBES1 schemes), for ``cryptography`` to try."""
    budget = limits.KdfBudget("private key")
    try:
        encrypted = der.parse_prefix(data)
        algorithm = encrypted.children[0]
        return _decrypt(algorithm, der.octets(encrypted.children[1]), password, budget)
    except _Unsupported:
        return None
    except _WrongPassword:
        raise WrongPassword from None
    except (der.DerError, IndexError):
        raise CryptoError("This private key is damaged: its structure cannot be read.") from None
