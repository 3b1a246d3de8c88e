"""Writes to the certificate repository. Every action runs in one transaction: all or nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import ProtectedError, Q

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
from repository.pki.generate import (
    SubjectFields,
    create_csr,
    create_self_signed,
    generate_private_key,
    subject_fields_of,
)
from repository.pki.hostnames import normalize_hostname
from repository.pki.keytypes import key_type_of
from repository.pki.match import public_key_matches
from repository.pki.parse import load_csr, load_private_key, parse_bundle, parse_certificates, parse_pkcs12
from repository.policy import schedule_policy
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
    policy = schedule_policy()
    entry.expiring_from = schedule.expiring_from(
        info.not_before, info.not_after, limit=policy.expiring_limit, fraction=policy.fraction
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
    key = generate_private_key(key_type)
    with transaction.atomic():
        entry = _csr_entry(subject=subject, sans=sans, key=key, stored_key=key_store(key, passphrase=passphrase))
        entry.created_by = _user(user)
        entry.save()
        audit_record(action=AuditAction.CSR_CREATE, actor=user, target=entry, detail=key_type)
    log.info("created CSR #%s for %s", entry.pk, entry.name)
    return entry


def _csr_entry(
    *, subject: SubjectFields, sans: Sequence[str], key: keytypes.PrivateKey, stored_key: PrivateKey
) -> Certificate:
    """A pending entry (not saved) holding a new CSR for ``key``, which ``stored_key`` keeps in the panel."""
    common_name = normalize_hostname(subject.common_name)
    csr = create_csr(key=key, subject=subject, sans=list(sans))
    sans_all = describe_csr(csr)["sans"]
    return Certificate(
        name=common_name,
        source=CertificateSource.CSR,
        key=stored_key,
        csr_pem=csr_to_pem(csr).decode("ascii"),
        common_name=common_name,
        sans=sans_all,
        key_type=key_type_of(key),
        search_text=" ".join([common_name, *sans_all]).lower(),
    )


def _refuse_second_successor(entry: Certificate) -> None:
    successor = Certificate.objects.filter(renewed_from=entry).only("id", "name").first()
    if successor is not None:
        raise RepositoryError(
            f"'{entry.name}' was already renewed by #{successor.pk}: open that entry (delete it first to start over)."
        )


def _successor_key(
    entry: Certificate, *, keep_key: bool, passphrase: bytes | None
) -> tuple[keytypes.PrivateKey, PrivateKey | None]:
    """The key of a renewal and, when it is the old one, its stored row. A new key has the old key's type and, if
    the old key was protected, the same passphrase (checked against the old key first, so a typo cannot lock the
    new key away)."""
    if entry.key is None:
        raise RepositoryError(f"'{entry.name}' has no private key in the panel: it cannot be renewed here.")
    old_key = certificate_private_key(entry, passphrase=passphrase) if keep_key or entry.key.has_passphrase else None
    if keep_key and old_key is not None:
        return old_key, entry.key
    key_type = entry.key.key_type if entry.key.key_type in keytypes.KEY_TYPES else DEFAULT_KEY_TYPE
    return generate_private_key(key_type), None


def certificate_renew_self_signed(
    *,
    certificate_id: int,
    days: int,
    keep_key: bool = False,
    passphrase: bytes | None = None,
    user: User | None = None,
) -> Certificate:
    """A fresh self-signed certificate for the same names as ``certificate_id``, stored as a new entry that names
    the old one as ``renewed_from`` (as ACME renewals do); the old entry stays, and keeps its services, until an
    admin replaces and deletes it."""
    old = certificate_get(certificate_id)
    if old.source != CertificateSource.SELF_SIGNED or old.is_pending:
        raise RepositoryError(f"'{old.name}' is not a self-signed certificate: renew it where it was issued.")
    _refuse_second_successor(old)
    key, stored = _successor_key(old, keep_key=keep_key, passphrase=passphrase)
    sans = [name for name in old.sans if name != old.common_name]
    leaf = create_self_signed(key=key, common_name=old.common_name or old.name, sans=sans, days=days)
    with transaction.atomic():
        old = certificate_get(certificate_id, for_update=True)
        _refuse_second_successor(old)
        entry = Certificate(
            name=old.name,
            source=CertificateSource.SELF_SIGNED,
            key=stored or key_store(key, passphrase=passphrase if old.key and old.key.has_passphrase else None),
            renewed_from=old,
            created_by=_user(user),
        )
        fill_from_x509(entry, leaf, [])
        entry.save()
        detail = f"renewal of #{old.pk}, {days} days" + (", same key" if stored else ", new key")
        audit_record(action=AuditAction.CERTIFICATE_RENEW, actor=user, target=entry, detail=detail)
    log.info("renewed self-signed certificate #%s as #%s", old.pk, entry.pk)
    return entry


def certificate_create_csr_from(
    *,
    certificate_id: int,
    keep_key: bool = False,
    passphrase: bytes | None = None,
    user: User | None = None,
) -> Certificate:
    """A pending CSR with the subject and names of a CA-issued certificate (made from a CSR here, or imported with
    its key), for the CA's next certificate; linked to it as ``renewed_from``. The old entry stays in service."""
    old = certificate_get(certificate_id)
    if old.source not in (CertificateSource.CSR, CertificateSource.IMPORTED) or old.is_pending:
        raise RepositoryError(f"'{old.name}' is not a CA-issued certificate with its key in the panel.")
    _refuse_second_successor(old)
    subject = subject_fields_of(parse_certificates(old.certificate_pem.encode("ascii"))[0])
    key, stored = _successor_key(old, keep_key=keep_key, passphrase=passphrase)
    with transaction.atomic():
        old = certificate_get(certificate_id, for_update=True)
        _refuse_second_successor(old)
        protect = passphrase if old.key and old.key.has_passphrase else None
        entry = _csr_entry(
            subject=subject, sans=old.sans, key=key, stored_key=stored or key_store(key, passphrase=protect)
        )
        entry.renewed_from, entry.created_by = old, _user(user)
        entry.save()
        detail = f"for the renewal of #{old.pk}" + (", same key" if stored else ", new key")
        audit_record(action=AuditAction.CSR_CREATE, actor=user, target=entry, detail=detail)
    log.info("created CSR #%s from certificate #%s", entry.pk, old.pk)
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


@dataclass
class BulkDeleteOutcome:
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def certificates_delete_unused(*, certificate_ids: Sequence[int], user: User | None = None) -> BulkDeleteOutcome:
    """Delete the selected entries no service uses, all in one transaction: if one cannot go, none goes. Entries in
    use are kept and named; keys go with their last entry."""
    outcome = BulkDeleteOutcome()
    with transaction.atomic():
        locked = list(
            Certificate.objects.select_for_update(of=("self",))
            .filter(pk__in=list(certificate_ids))
            .order_by("pk")
            .only("id", "name", "key_id", "common_name")
        )
        used = set(
            Certificate.objects.filter(pk__in=[entry.pk for entry in locked])
            .filter(Q(listeners__isnull=False) | Q(sni_listeners__isnull=False))
            .values_list("pk", flat=True)
        )
        doomed = [entry for entry in locked if entry.pk not in used]
        outcome.kept = [f"{entry.name} (#{entry.pk})" for entry in locked if entry.pk in used]
        key_ids = {entry.key_id for entry in doomed if entry.key_id}
        for entry in doomed:
            audit_record(action=AuditAction.CERTIFICATE_DELETE, actor=user, target=entry, detail=entry.common_name)
        try:
            Certificate.objects.filter(pk__in=[entry.pk for entry in doomed]).delete()
        except ProtectedError:
            raise InUseError(
                "A selected certificate was assigned to a service meanwhile: nothing was deleted."
            ) from None
        shared = set(Certificate.objects.filter(key_id__in=key_ids).values_list("key_id", flat=True))
        for key in PrivateKey.objects.filter(pk__in=key_ids - shared):
            try:
                key.delete()
            except ProtectedError:  # an ACME order or account still names it: the key stays, sealed
                continue
        outcome.deleted = [f"{entry.name} (#{entry.pk})" for entry in doomed]
    log.info("deleted %d unused certificates, kept %d in use", len(outcome.deleted), len(outcome.kept))
    return outcome


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
    "BulkDeleteOutcome",
    "Outcome",
    "certificate_complete",
    "certificate_create_csr",
    "certificate_create_csr_from",
    "certificate_create_self_signed",
    "certificate_delete",
    "certificate_ensure_default",
    "certificate_import",
    "certificate_private_key",
    "certificate_renew_self_signed",
    "certificates_delete_unused",
]
