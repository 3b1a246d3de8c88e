"""Writing certificates, keys and CSRs out: PEM, DER, PKCS#12, and the toolbox's any-to-any conversion.

Every public function raises ``CryptoError`` (never a raw cryptography exception); messages never contain
key material. Only ``cryptography`` and the stdlib: no Django.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12

from repository.errors import CryptoError
from repository.pki.chain import display_name, order_chain
from repository.pki.keytypes import PrivateKey
from repository.pki.match import public_key_matches
from repository.pki.parse import Bundle, guard, looks_like_pkcs12, parse_bundle, parse_pkcs12, supported_key


@guard("The private key could not be exported.")
def private_key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM; an empty passphrase means no encryption."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@guard("The private key could not be exported.")
def private_key_to_traditional_pem(key: PrivateKey) -> bytes:
    """Unencrypted "BEGIN RSA/EC PRIVATE KEY" for daemons that still insist on it."""
    # Ed25519 has no traditional format; PKCS#8 is the only PEM form it has.
    fmt = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def csr_to_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def certificate_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def certificates_to_pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(certificate_to_pem(cert).rstrip(b"\n") + b"\n" for cert in certs)


def certificate_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@guard("The PKCS#12 file could not be created.")
def to_pkcs12(
    *,
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes,
) -> bytes:
    if not password:
        raise CryptoError("Enter a password for the PKCS#12 file.")
    if not public_key_matches(key, cert):
        raise CryptoError("The private key does not match the certificate.")
    # PBES2 + AES-256 + SHA-256 MAC: what OpenSSL 3 and current Windows/macOS import.
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode("utf-8") or None, supported_key(key), cert, list(chain) or None, encryption
    )


def _read_any(data: bytes, password: bytes | None, passphrase: bytes | None) -> Bundle:
    if looks_like_pkcs12(bytes(data)):
        return parse_pkcs12(data, password)
    return parse_bundle(data, passphrase)


@guard("The conversion failed.")
def convert(data: bytes, *, to: str, password: bytes | None = None, passphrase: bytes | None = None) -> bytes:
    """Toolbox: any certificate/key container to "pem", "der" or "pkcs12".

    ``password`` protects PKCS#12 (read and written), ``passphrase`` a PEM private key.
    """
    if to not in ("pem", "der", "pkcs12"):
        raise CryptoError(f"Unknown target format '{to}': choose pem, der or pkcs12.")
    bundle = _read_any(data, password, passphrase)
    if to == "der":
        return certificate_to_der(bundle.certificates[0])
    if to == "pem":
        key_pem = private_key_to_pem(bundle.key) if bundle.key is not None else b""
        return certificates_to_pem(bundle.certificates) + key_pem
    if bundle.key is None:
        raise CryptoError("Converting to PKCS#12 needs the private key together with the certificate.")
    if not password:
        raise CryptoError("Enter a password for the PKCS#12 file.")
    leaf, chain = order_chain(bundle.certificates, leaf_key=bundle.key)
    return to_pkcs12(name=display_name(leaf), key=bundle.key, cert=leaf, chain=chain, password=password)
