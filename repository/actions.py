"""Writes to the certificate repository. Every action runs in one transaction: all or nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography import x509
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import ProtectedError

from certpanel.audit.actions import AuditAction, audit_record
from repository import chain_fetches
from repository.acme import schedule
from repository.errors import CryptoError, InUseError, RepositoryError
from repository.keystore import key_load, key_store, spki_sha256
from repository.models import Certificate, CertificateSource, PrivateKey
from repository.pki import keytypes, safe
from repository.pki.chain import order_chain, verify_chain
from repository.pki.convert import certificate_to_pem, certificates_to_pem, csr_to_pem
from repository.pki.describe import describe_certificate, describe_csr, fingerprint_sha256, require_readable
from repository.pki.generate import SubjectFields, create_csr, create_self_signed, generate_private_key
from repository.pki.hostnames import normalize_hostname
from repository.pki.keytypes import key_type_of
from repository.pki.match import public_key_matches
from repository.pki.parse import load_csr, load_private_key, parse_bundle, parse_certificates, parse_pkcs12
from repository.selectors import certificate_get, certificate_usages

log = logging.getLogger(__name__)

DEFAULT_KEY_TYPE = "rsa2048"


@dataclass
class Outcome:
    certificate: Certificate
    warnings: list[str] = field(default_factory=list)


def _user(user: User | None) -> User | None:
    return user if user is not None and user.is_authenticated else None


def fill_from_x509(entry: Certificate, leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> None:
    """Copy what list and search need into columns, so no page parses PEM per row."""
    info = describe_certificate(leaf)
    entry.certificate_pem = certificate_to_pem(leaf).decode("ascii")
    entry.chain_pem = certificates_to_pem(chain).decode("ascii") if chain else ""
    entry.common_name = info.common_name
    entry.sans = info.sans
    entry.subject = info.subject
    entry.issuer = info.issuer_common_name
    entry.serial = info.serial
    entry.fingerprint_sha256 = info.fingerprint_sha256
    entry.fingerprint_sha1 = info.fingerprint_sha1
    entry.key_type = info.key_type
    entry.not_before = info.not_before
    entry.not_after = info.not_after
    entry.expiring_from = schedule.expiring_from(
        info.not_before, info.not_after, limit=timedelta(days=settings.CERTPANEL_EXPIRING_DAYS)
    )
    entry.name = entry.name or info.common_name or (info.sans[0] if info.sans else f"serial {info.serial}")
    entry.search_text = " ".join([entry.name, info.common_name, *info.sans, info.issuer_common_name]).lower()


def _quality_warnings(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> list[str]:
    info = describe_certificate(leaf)
    warnings = verify_chain(leaf, chain)
    if not info.has_server_auth:
        warnings.append("This certificate lacks the serverAuth extended key usage: servers cannot use it for TLS.")
    return [w for w in warnings if "is missing" not in w]  # missing intermediates are reported by chain_notes


def _complete_chain(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate]
) -> tuple[list[x509.Certificate], list[str]]:
    """The chain as uploaded: a missing intermediate is fetched by a worker (`chain_fetches.chain_fetch_queue`)."""
    return list(chain), chain_fetches.chain_notes(leaf, chain) + _quality_warnings(leaf, chain)


def _refuse_duplicate(leaf: x509.Certificate) -> None:
    fingerprint = fingerprint_sha256(leaf)
    existing = Certificate.objects.filter(fingerprint_sha256=fingerprint).first()
    if existing is not None:
        raise RepositoryError(f"This certificate is already in the repository as #{existing.pk} ({existing.name}).")


def certificate_create_self_signed(
    *,
    hostname: str,
    sans: Sequence[str] = (),
    key_type: str = DEFAULT_KEY_TYPE,
    days: int = 365,
    passphrase: bytes | None = None,
    user: User | None = None,
    is_default: bool = False,
) -> Certificate:
    name = normalize_hostname(hostname)
    key = generate_private_key(key_type)
    leaf = create_self_signed(key=key, common_name=name, sans=list(sans), days=days)
    with transaction.atomic():
        entry = Certificate(
            name=name,
            source=CertificateSource.SELF_SIGNED,
            key=key_store(key, passphrase=passphrase),
            is_default=is_default,
            created_by=_user(user),
        )
        fill_from_x509(entry, leaf, [])
        entry.save()
        detail = f"{key_type}, {days} days" + (", the panel's default" if is_default else "")
        audit_record(action=AuditAction.CERTIFICATE_CREATE, actor=user, target=entry, detail=detail)
    log.info("created self-signed certificate #%s for %s", entry.pk, name)
    return entry


def certificate_create_csr(
    *,
    subject: SubjectFields,
    sans: Sequence[str] = (),
    key_type: str = DEFAULT_KEY_TYPE,
    passphrase: bytes | None = None,
    user: User | None = None,
) -> Certificate:
    """Generate a key that stays in the panel and a CSR for it; the entry waits for the CA's answer."""
    common_name = normalize_hostname(subject.common_name)
    key = generate_private_key(key_type)
    csr = create_csr(key=key, subject=subject, sans=list(sans))
    sans_all = describe_csr(csr)["sans"]
    with transaction.atomic():
        entry = Certificate.objects.create(
            name=common_name,
            source=CertificateSource.CSR,
            key=key_store(key, passphrase=passphrase),
            csr_pem=csr_to_pem(csr).decode("ascii"),
            common_name=common_name,
            sans=sans_all,
            key_type=key_type_of(key),
            search_text=" ".join([common_name, *sans_all]).lower(),
            created_by=_user(user),
        )
        audit_record(action=AuditAction.CSR_CREATE, actor=user, target=entry, detail=key_type)
    log.info("created CSR #%s for %s", entry.pk, common_name)
    return entry


def _certificates_from(uploads: Sequence[bytes]) -> list[x509.Certificate]:
    """Every certificate of the uploads, each readable in full: one the panel cannot read is refused by name."""
    certificates: list[x509.Certificate] = []
    for data in uploads:
        certificates.extend(parse_certificates(data))
    return require_readable(certificates)


def certificate_complete(*, certificate_id: int, uploads: Sequence[bytes], user: User | None = None) -> Outcome:
    """Turn a pending CSR into a certificate with what the CA sent (leaf and chain, any order/format)."""
    certificates = _certificates_from([data for data in uploads if data])
    if not certificates:
        raise CryptoError("Upload the certificate the CA sent.")
    entry = _pending(certificate_get(certificate_id))
    csr_key = safe.public_key(load_csr(entry.csr_pem.encode("ascii")))
    if not any(public_key_matches(csr_key, cert) for cert in certificates):
        raise CryptoError(
            "The uploaded certificate does not match this CSR's private key: it was issued for a different "
            "request. Check that you picked the right pending entry, or ask the CA to reissue with this CSR."
        )
    leaf, chain = order_chain(certificates, leaf_key=csr_key)
    _refuse_duplicate(leaf)
    chain, warnings = _complete_chain(leaf, chain)
    with transaction.atomic():
        entry = _pending(certificate_get(certificate_id, for_update=True))
        _refuse_duplicate(leaf)
        fill_from_x509(entry, leaf, chain)
        entry.save()
        chain_fetches.chain_fetch_queue(entry, leaf, chain)
        audit_record(action=AuditAction.CSR_COMPLETE, actor=user, target=entry, detail=f"issued by {entry.issuer}")
    log.info("completed CSR #%s", entry.pk)
    return Outcome(entry, warnings)


def _pending(entry: Certificate) -> Certificate:
    if not entry.is_pending:
        raise RepositoryError(f"Certificate #{entry.pk} ({entry.name}) is not waiting for a CA's answer.")
    return entry


def _pending_entry_for(leaf: x509.Certificate) -> Certificate | None:
    spki = spki_sha256(safe.public_key(leaf))
    return Certificate.objects.filter(certificate_pem="", key__public_key_sha256=spki).first()


def certificate_import(
    *,
    certificate_data: bytes | None = None,
    key_data: bytes | None = None,
    chain_data: bytes | None = None,
    pkcs12_data: bytes | None = None,
    passphrase: bytes | None = None,
    name: str = "",
    user: User | None = None,
) -> Outcome:
    if pkcs12_data:
        bundle = parse_pkcs12(pkcs12_data, passphrase)
    elif certificate_data:
        bundle = parse_bundle(certificate_data, passphrase)
    else:
        raise CryptoError("Upload a certificate (PEM, DER or PKCS#7) or a PKCS#12 file.")
    key = bundle.key
    if key_data:
        separate = load_private_key(key_data, passphrase)
        if key is not None and not public_key_matches(key, separate):
            raise CryptoError("The certificate file contains a private key that differs from the key file.")
        key = separate
    certificates = require_readable(bundle.certificates + (parse_certificates(chain_data) if chain_data else []))
    if key is not None and not any(public_key_matches(key, cert) for cert in certificates):
        raise CryptoError("The private key does not match the certificate: they are not a pair.")
    leaf, chain = order_chain(certificates, leaf_key=key)
    if key is None and (pending := _pending_entry_for(leaf)) is not None:
        outcome = certificate_complete(
            certificate_id=pending.pk, uploads=[certificates_to_pem(certificates)], user=user
        )
        outcome.warnings.insert(0, f"This certificate answers the pending CSR #{pending.pk}, which is now complete.")
        return outcome
    _refuse_duplicate(leaf)
    chain, warnings = _complete_chain(leaf, chain)
    if key is None:
        warnings.append("No private key was imported: this certificate can be exported but not served.")
    with transaction.atomic():
        entry = Certificate(
            name=name.strip(),
            source=CertificateSource.IMPORTED,
            key=key_store(key) if key is not None else None,
            created_by=_user(user),
        )
        fill_from_x509(entry, leaf, chain)
        entry.save()
        chain_fetches.chain_fetch_queue(entry, leaf, chain)
        detail = ("PKCS#12" if pkcs12_data else "certificate file") + (
            ", with its key" if key is not None else ", no key"
        )
        audit_record(action=AuditAction.CERTIFICATE_IMPORT, actor=user, target=entry, detail=detail)
    log.info("imported certificate #%s (%s)", entry.pk, entry.name)
    return Outcome(entry, warnings)


def certificate_delete(*, certificate_id: int, user: User | None = None) -> str:
    """Delete an entry that no service uses; its key goes too unless another entry shares it."""
    with transaction.atomic():
        entry = certificate_get(certificate_id, for_update=True)
        usages = certificate_usages(entry)
        if usages:
            raise InUseError(
                f"Certificate '{entry.name}' is used by {', '.join(usages)}: "
                "assign another certificate to those services first."
            )
        key_id, name = entry.key_id, entry.name
        audit_record(action=AuditAction.CERTIFICATE_DELETE, actor=user, target=entry, detail=entry.common_name)
        try:
            entry.delete()
        except ProtectedError:
            raise InUseError(f"Certificate '{name}' is still in use.") from None
        if key_id and not Certificate.objects.filter(key_id=key_id).exists():
            PrivateKey.objects.filter(pk=key_id).delete()
    log.info("deleted certificate #%s (%s)", certificate_id, name)
    return name


def certificate_ensure_default(*, hostname: str) -> Certificate | None:
    """First start: a self-signed certificate for this host, so every service has one from day one."""
    if Certificate.objects.filter(is_default=True).exists():
        return None
    return certificate_create_self_signed(hostname=hostname, days=825, is_default=True)


def certificate_private_key(entry: Certificate, *, passphrase: bytes | None) -> keytypes.PrivateKey:
    if entry.key is None:
        raise RepositoryError(f"Certificate '{entry.name}' has no private key in the panel.")
    return key_load(entry.key, passphrase=passphrase)


__all__ = [
    "Outcome",
    "certificate_complete",
    "certificate_create_csr",
    "certificate_create_self_signed",
    "certificate_delete",
    "certificate_ensure_default",
    "certificate_import",
    "certificate_private_key",
]
