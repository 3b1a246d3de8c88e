"""What the panel agrees to spend on one upload, so that a hostile file is refused in well under a second.

- ``MAX_CERTIFICATES`` per upload: a certificate and its chain are a handful, a CA bundle a few dozen.
- ``MAX_SIGNATURE_CHECKS`` while putting one upload in order: certificates that share a name each cost a check.
- Public keys: RSA up to ``MAX_RSA_BITS`` with an exponent of at most ``MAX_RSA_EXPONENT_BITS`` bits, DSA up to
  ``MAX_DSA_BITS``. Bigger keys make every signature check against them slow (a 16384-bit modulus with a 64-bit
  exponent costs 8 ms a check), and no CA issues them.
- Key derivation, the password hashing of PKCS#12 files and encrypted private keys: at most ``MAX_KDF_ITERATIONS``
  per derivation (OpenSSL writes 2,048, ``cryptography`` 20,000, the panel's own exports 50,000; 10 million took
  5.8 s) and ``MAX_KDF_TOTAL`` hash blocks for a whole file (``KdfBudget``); scrypt at most ``MAX_SCRYPT_WORK``
  (N·r·p; OpenSSL's default is 2**17). Each count is read from the DER before the derivation runs.
- ``MAX_RC2_BYTES`` decrypted with RC2, the legacy cipher older PKCS#12 exports use, which the panel runs in Python.

Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

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
MAX_KDF_TOTAL = 600_000
MAX_SCRYPT_WORK = 2**18
MAX_RC2_BYTES = 64 * 1024

# Algorithm identifiers whose parameters are SEQUENCE { salt, iterationCount, ... }.
_PBE_WITH_ITERATIONS = frozenset(
    {f"1.2.840.113549.1.12.1.{n}" for n in range(1, 7)}  # PKCS#12 PBE (3DES, RC2, RC4 with SHA-1)
    | {f"1.2.840.113549.1.5.{n}" for n in (1, 3, 4, 6, 10, 11)}  # PKCS#5 PBES1
    | {"1.2.840.113549.1.5.12"}  # PBKDF2 (inside PBES2 and PBMAC1)
)
_SCRYPT = "1.3.6.1.4.1.11591.4.11"


class KdfBudget:
    """The password hashing one file may still cost; ``spend`` refuses a derivation before it runs."""

    def __init__(self, what: str) -> None:
        self.what = what  # names the file in the messages: "PKCS#12 file", "private key"
        self.spent = 0

    def spend(self, iterations: int, *, blocks: int = 1) -> None:
        """Account for a derivation of ``iterations`` rounds producing ``blocks`` hash blocks."""
        if iterations < 1:
            raise CryptoError(f"This {self.what} is damaged: it hashes its password {iterations} times.")
        if iterations > MAX_KDF_ITERATIONS:
            raise CryptoError(
                f"This {self.what} hashes its password {iterations:,} times; the panel opens files of up to "
                f"{MAX_KDF_ITERATIONS:,} iterations. Export it again with fewer (openssl's default is 2,048)."
            )
        self.spent += iterations * blocks
        if self.spent > MAX_KDF_TOTAL:
            raise CryptoError(
                f"This {self.what} holds too many password-protected parts ({self.spent:,} iterations in all; "
                f"the panel opens files of up to {MAX_KDF_TOTAL:,})."
            )

    def spend_scrypt(self, work: int) -> None:
        """An scrypt derivation of N·r·p ``work``; one within its limit counts as one at the iteration limit."""
        if work > MAX_SCRYPT_WORK:
            raise CryptoError(
                f"This {self.what} protects its password with scrypt at a cost of {work:,} (N·r·p); the panel "
                f"opens files of up to {MAX_SCRYPT_WORK:,}. Export it again with the usual settings."
            )
        self.spend(MAX_KDF_ITERATIONS)


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


def refuse_costly_key_derivation(data: bytes, *, what: str) -> None:
    """CryptoError when opening ``data`` (an encrypted private key) would hash its password longer than the limits
    allow; every derivation it names is in the clear. ``what`` names the file in the message."""
    budget = KdfBudget(what)
    try:
        root = der.parse_prefix(data)
        for item in der.walk(root):
            oid = der.algorithm_oid(item)
            if oid is None or len(item.children) < 2 or len(item.children[1].children) < 2:
                continue
            params = item.children[1].children
            if oid in _PBE_WITH_ITERATIONS:
                budget.spend(der.integer(params[1]))
            elif oid == _SCRYPT and len(params) >= 4:
                budget.spend_scrypt(der.integer(params[1]) * der.integer(params[2]) * der.integer(params[3]))
    except der.DerError:
        raise CryptoError(f"This {what} is damaged: its structure cannot be read.") from None
