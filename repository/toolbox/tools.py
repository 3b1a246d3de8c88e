"""The toolbox's four tools: the admin's usual `openssl` checks on pasted data. Pure; nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509

from repository.errors import CryptoError
from repository.pki.chain import order_chain, subject_label, verify_chain
from repository.pki.convert import convert as pki_convert
from repository.pki.describe import certificate_fields, describe_csr, describe_private_key
from repository.pki.keytypes import PrivateKey, key_description
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

Fields = list[tuple[str, str]]


@dataclass
class Section:
    title: str
    fields: Fields = field(default_factory=list)


def _csr_section(csr: x509.CertificateSigningRequest) -> Section:
    info = describe_csr(csr)
    return Section(
        "Certificate signing request",
        [
            ("Subject", info["subject"]),
            ("Names (SAN)", ", ".join(info["sans"]) or "none"),
            ("Key", key_description(info["key_type"])),
            ("Signature", "valid" if info["signature_valid"] else "INVALID"),
        ],
    )


def _key_section(key: PrivateKey) -> Section:
    info = describe_private_key(key)
    return Section(
        "Private key",
        [
            ("Key", key_description(str(info["key_type"]))),
            ("Public key SHA-256", str(info["public_key_sha256"])),
        ],
    )


def _bundle_sections(bundle: Bundle, title: str) -> list[Section]:
    sections = [Section(f"{title} {n}", certificate_fields(c)) for n, c in enumerate(bundle.certificates, 1)]
    if bundle.key is not None:
        sections.append(_key_section(bundle.key))
    return sections


def decode(data: bytes, *, password: bytes | None = None) -> list[Section]:
    """Like `openssl x509/req/pkey/pkcs12 -text`: whatever the data is, describe it."""
    if looks_like_pkcs12(data):
        return _bundle_sections(parse_pkcs12(data, password), "PKCS#12 certificate")
    if b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data:
        return [_key_section(load_private_key(data, password))]
    if b"CERTIFICATE REQUEST-----" in data:
        return [_csr_section(load_csr(data))]
    try:
        return _bundle_sections(parse_bundle(data, password), "Certificate")
    except CryptoError as first:
        for attempt in (load_csr, lambda d: load_private_key(d, password)):
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
    key = load_private_key(key_data, passphrase)
    other: x509.Certificate | x509.CertificateSigningRequest
    if b"CERTIFICATE REQUEST" in other_data:
        other, what = load_csr(other_data), "CSR"
    else:
        other, what = parse_certificates(other_data)[0], "certificate"
    if public_key_matches(key, other):
        return True, f"The private key matches the {what}."
    return False, f"The private key does NOT match the {what}: they are not a pair."


def verify(data: bytes) -> tuple[list[Section], list[str]]:
    """Like `openssl verify -untrusted`: order what was pasted leaf→root and report every problem.

    A certificate with a part the panel cannot read is still shown, that part saying why."""
    leaf, chain = order_chain(parse_certificates(data))
    sections = [Section(f"{n}. {subject_label(c)}", certificate_fields(c)) for n, c in enumerate([leaf, *chain], 1)]
    return sections, verify_chain(leaf, chain)


CONVERSIONS = {"pem": ("PEM", ".pem"), "der": ("DER", ".der"), "pkcs12": ("PKCS#12", ".p12")}


def convert(data: bytes, *, to: str, password: bytes | None = None, passphrase: bytes | None = None) -> bytes:
    if to not in CONVERSIONS:
        raise CryptoError(f"Unknown target format '{to}'.")
    return pki_convert(data, to=to, password=password, passphrase=passphrase)
