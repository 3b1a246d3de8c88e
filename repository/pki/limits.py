"""What the panel agrees to spend on one upload, so that a hostile file is refused in well under a second.

- ``MAX_CERTIFICATES`` per upload: a certificate and its chain are a handful, a CA bundle a few dozen.
- ``MAX_SIGNATURE_CHECKS`` while putting one upload in order: certificates that share a name each cost a check.
- Public keys: RSA up to ``MAX_RSA_BITS`` with an exponent of at most ``MAX_RSA_EXPONENT_BITS`` bits, DSA up to
  ``MAX_DSA_BITS``. Bigger keys make every signature check against them slow (a 16384-bit modulus with a 64-bit
  exponent costs 8 ms a check), and no CA issues them.
- Key derivation, the password hashing of PKCS#12 files and encrypted private keys: at most ``MAX_KDF_ITERATIONS``
  per derivation (OpenSSL writes 2,048, ``cryptography`` 20,000, the panel's own exports 50,000; 10 million took
  5.8 s) and ``MAX_KDF_TOTAL`` for a whole file; scrypt at most ``MAX_SCRYPT_WORK`` (N·r·p; OpenSSL's default is
  2**17). The counts are read from the DER before ``cryptography`` runs the derivation. A derivation nested inside
  an encrypted part cannot be seen before decrypting it; no common tool writes one.

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from repository.errors import CryptoError
from repository.pki import der
from repository.pki.keytypes import PublicKey

MAX_CERTIFICATES = 100
MAX_SIGNATURE_CHECKS = 300
MAX_RSA_BITS = 8192
MAX_RSA_EXPONENT_BITS = 32
MAX_DSA_BITS = 3072
MAX_KDF_ITERATIONS = 200_000
MAX_KDF_TOTAL = 1_000_000
MAX_SCRYPT_WORK = 2**18

# Attempts per PKCS#12 file: the password given, then none and the empty one (see parse._load_pkcs12); each
# attempt checks the MAC, so its derivation counts that often.
PKCS12_PASSWORD_ATTEMPTS = 3

# Algorithm identifiers whose parameters are SEQUENCE { salt, iterationCount, ... }.
_PBE_WITH_ITERATIONS = frozenset(
    {f"1.2.840.113549.1.12.1.{n}" for n in range(1, 7)}  # PKCS#12 PBE (3DES, RC2, RC4 with SHA-1)
    | {f"1.2.840.113549.1.5.{n}" for n in (1, 3, 4, 6, 10, 11)}  # PKCS#5 PBES1
    | {"1.2.840.113549.1.5.12"}  # PBKDF2 (inside PBES2 and PBMAC1)
)
_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_PKCS7_DATA = "1.2.840.113549.1.7.1"
_NESTING = 3  # PFX -> AuthenticatedSafe -> SafeContents


def refuse_too_many_certificates(count: int) -> None:
    if count > MAX_CERTIFICATES:
        raise CryptoError(
            f"The upload holds {count} certificates; the panel reads at most {MAX_CERTIFICATES} at a time "
            "(a certificate and its chain need only a few)."
        )


def public_key_problem(key: PublicKey) -> str | None:
    """Why checking signatures with this key would cost too much, in the words of a sentence's end; else None."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size > MAX_RSA_BITS:
            return f"an RSA key of {key.key_size} bits (the panel handles RSA keys of up to {MAX_RSA_BITS} bits)"
        if key.public_numbers().e.bit_length() > MAX_RSA_EXPONENT_BITS:
            return f"an RSA key with a public exponent of more than {MAX_RSA_EXPONENT_BITS} bits"
    if isinstance(key, dsa.DSAPublicKey) and key.key_size > MAX_DSA_BITS:
        return f"a DSA key of {key.key_size} bits (the panel handles DSA keys of up to {MAX_DSA_BITS} bits)"
    return None


def _data_content(item: der.Element) -> bytes | None:
    """The bytes of a PKCS#7 ``data`` ContentInfo (SEQUENCE { id-data, [0] EXPLICIT OCTET STRING }), else None."""
    if der.algorithm_oid(item) != _PKCS7_DATA or len(item.children) < 2 or item.children[1].tag != 0xA0:
        return None
    wrapped = item.children[1].children
    if not wrapped or wrapped[0].tag not in (der.OCTET_STRING, der.OCTET_STRING_CONSTRUCTED):
        return None
    return der.octets(wrapped[0])


def _visible(element: der.Element, budget: der.Budget, depth: int = 0) -> Iterator[der.Element]:
    """Every element readable without a password, also inside the ``data`` parts PKCS#12 wraps in OCTET STRINGs."""
    for item in der.walk(element):
        yield item
        content = _data_content(item) if depth < _NESTING else None
        if content:
            yield from _visible(der.parse(content, budget=budget), budget, depth + 1)


def _costs(root: der.Element, budget: der.Budget) -> Iterator[tuple[str, int]]:
    """(kind, cost) of every key derivation visible in the file."""
    for item in _visible(root, budget):
        oid = der.algorithm_oid(item)
        if oid is None or len(item.children) < 2 or len(item.children[1].children) < 2:
            continue
        params = item.children[1].children
        if oid in _PBE_WITH_ITERATIONS:
            yield "iterations", der.integer(params[1])
        elif oid == _SCRYPT and len(params) >= 4:
            yield "scrypt", der.integer(params[1]) * der.integer(params[2]) * der.integer(params[3])


def _mac_iterations(root: der.Element) -> int:
    """PFX ::= SEQUENCE { version, authSafe, macData MacData OPTIONAL }; MacData's iterations DEFAULT 1."""
    if len(root.children) < 3:
        return 0
    mac_data = root.children[2].children
    return der.integer(mac_data[2]) if len(mac_data) >= 3 else 1


def refuse_costly_key_derivation(data: bytes, *, what: str, pkcs12: bool = False) -> None:
    """CryptoError when opening ``data`` (a PKCS#12 file or an encrypted private key) would hash its password
    longer than the limits allow. ``what`` names the file in the message ("PKCS#12 file", "private key")."""
    try:
        budget = der.Budget()  # one bound for the file and everything nested in it
        root = der.parse_prefix(data, budget=budget)
        costs = list(_costs(root, budget))
        mac = _mac_iterations(root) if pkcs12 else 0
    except der.DerError:
        raise CryptoError(f"This {what} is damaged: its structure cannot be read.") from None
    for kind, cost in [*costs, ("iterations", mac)]:
        if kind == "scrypt" and cost > MAX_SCRYPT_WORK:
            raise CryptoError(
                f"This {what} protects its password with scrypt at a cost of {cost:,} (N·r·p); the panel "
                f"opens files of up to {MAX_SCRYPT_WORK:,}. Export it again with the usual settings."
            )
        if kind == "iterations" and cost > MAX_KDF_ITERATIONS:
            raise CryptoError(
                f"This {what} hashes its password {cost:,} times; the panel opens files of up to "
                f"{MAX_KDF_ITERATIONS:,} iterations. Export it again with fewer (openssl's default is 2,048)."
            )
    # A scrypt derivation within its limit counts as one at the iteration limit.
    total = mac * PKCS12_PASSWORD_ATTEMPTS + sum(MAX_KDF_ITERATIONS if k == "scrypt" else c for k, c in costs)
    if total > MAX_KDF_TOTAL:
        raise CryptoError(
            f"This {what} holds too many password-protected parts ({total:,} iterations in all; the panel "
            f"opens files of up to {MAX_KDF_TOTAL:,})."
        )
