"""The toolbox: the admin's usual `openssl` checks on pasted data. Pure; nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509

from repository import crypto
from repository.errors import CryptoError

Fields = list[tuple[str, str]]


@dataclass
class Section:
    title: str
    fields: Fields = field(default_factory=list)


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def certificate_fields(cert: x509.Certificate) -> Fields:
    info = crypto.describe_certificate(cert)
    return [
        ("Subject", info.subject),
        ("Issuer", info.issuer),
        ("Names (SAN)", ", ".join(info.sans) or "none"),
        ("Valid from", _when(info.not_before)),
        ("Valid until", _when(info.not_after)),
        ("Serial", info.serial),
        ("SHA-256 fingerprint", info.fingerprint_sha256),
        ("SHA-1 fingerprint", info.fingerprint_sha1),
        ("Key", crypto.key_description(info.key_type)),
        ("Signature algorithm", info.signature_algorithm),
        ("Key usage", ", ".join(info.key_usage) or "not restricted"),
        ("Extended key usage", ", ".join(info.extended_key_usage) or "not restricted"),
        ("CA", "yes" if info.is_ca else "no"),
        ("Self-signed", "yes" if info.self_signed else "no"),
    ]


def _csr_section(csr: x509.CertificateSigningRequest) -> Section:
    info = crypto.describe_csr(csr)
    return Section(
        "Certificate signing request",
        [
            ("Subject", info["subject"]),
            ("Names (SAN)", ", ".join(info["sans"]) or "none"),
            ("Key", crypto.key_description(info["key_type"])),
            ("Signature", "valid" if info["signature_valid"] else "INVALID"),
        ],
    )


def _key_section(key: crypto.PrivateKey) -> Section:
    info = crypto.describe_private_key(key)
    return Section(
        "Private key",
        [
            ("Key", crypto.key_description(str(info["key_type"]))),
            ("Public key SHA-256", str(info["public_key_sha256"])),
        ],
    )


def _bundle_sections(bundle: crypto.Bundle, title: str) -> list[Section]:
    sections = [Section(f"{title} {n}", certificate_fields(c)) for n, c in enumerate(bundle.certificates, 1)]
    if bundle.key is not None:
        sections.append(_key_section(bundle.key))
    return sections


def decode(data: bytes, *, password: bytes | None = None) -> list[Section]:
    """Like `openssl x509/req/pkey/pkcs12 -text`: whatever the data is, describe it."""
    if crypto.looks_like_pkcs12(data):
        return _bundle_sections(crypto.parse_pkcs12(data, password), "PKCS#12 certificate")
    if b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data:
        return [_key_section(crypto.load_private_key(data, password))]
    if b"CERTIFICATE REQUEST-----" in data:
        return [_csr_section(crypto.load_csr(data))]
    try:
        return _bundle_sections(crypto.parse_bundle(data, password), "Certificate")
    except CryptoError as first:
        for attempt in (crypto.load_csr, lambda d: crypto.load_private_key(d, password)):
            try:
                parsed = attempt(data)
            except CryptoError:
                continue
            return [
                _csr_section(parsed) if isinstance(parsed, x509.CertificateSigningRequest) else _key_section(parsed)
            ]
        raise first


def key_matches(*, key_data: bytes, other_data: bytes, passphrase: bytes | None = None) -> tuple[bool, str]:
    """Like comparing `openssl x509 -modulus` with `openssl rsa -modulus`, for every key type."""
    key = crypto.load_private_key(key_data, passphrase)
    other: x509.Certificate | x509.CertificateSigningRequest
    if b"CERTIFICATE REQUEST" in other_data:
        other, what = crypto.load_csr(other_data), "CSR"
    else:
        other, what = crypto.parse_certificates(other_data)[0], "certificate"
    if crypto.public_key_matches(key, other):
        return True, f"The private key matches the {what}."
    return False, f"The private key does NOT match the {what}: they are not a pair."


def verify(data: bytes) -> tuple[list[Section], list[str]]:
    """Like `openssl verify -untrusted`: order what was pasted leaf→root and report every problem."""
    leaf, chain = crypto.order_chain(crypto.parse_certificates(data))
    sections = [
        Section(f"{n}. {crypto.describe_certificate(c).subject}", certificate_fields(c))
        for n, c in enumerate([leaf, *chain], 1)
    ]
    return sections, crypto.verify_chain(leaf, chain)


CONVERSIONS = {"pem": ("PEM", ".pem"), "der": ("DER", ".der"), "pkcs12": ("PKCS#12", ".p12")}


def convert(data: bytes, *, to: str, password: bytes | None = None, passphrase: bytes | None = None) -> bytes:
    if to not in CONVERSIONS:
        raise CryptoError(f"Unknown target format '{to}'.")
    return crypto.convert(data, to=to, password=password, passphrase=passphrase)
