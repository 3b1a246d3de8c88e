"""Exporting an entry in the forms daemons and other tools want; key exports are audited."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from certpanel.audit.actions import AuditAction, audit_record
from repository.actions import certificate_private_key
from repository.errors import RepositoryError
from repository.models import Certificate, CertificateStatus, KeyExport
from repository.pki.convert import certificate_to_der, private_key_to_pem, to_pkcs12
from repository.pki.parse import parse_certificates
from repository.selectors import certificate_get

log = logging.getLogger(__name__)

FORMATS: dict[str, str] = {
    "pem": "Certificate (PEM)",
    "chain": "Chain only (PEM)",
    "fullchain": "Full chain: certificate + chain (PEM, nginx)",
    "key": "Private key (PEM)",
    "combined": "Combined certificate + chain + key (Postfix/Dovecot single file)",
    "der": "Certificate (DER)",
    "pkcs12": "PKCS#12 (.p12) with certificate, chain and key",
    "csr": "Certificate signing request (PEM)",
}
SECRET_FORMATS = frozenset({"key", "combined", "pkcs12"})
_SUFFIX = {
    "pem": ".crt",
    "chain": "-chain.pem",
    "fullchain": "-fullchain.pem",
    "key": ".key",
    "combined": "-combined.pem",
    "der": ".der",
    "pkcs12": ".p12",
    "csr": ".csr",
}
_TYPES = {"der": "application/pkix-cert", "pkcs12": "application/x-pkcs12", "csr": "application/pkcs10"}


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: bytes
    content_type: str
    secret: bool


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("*", "wildcard")).strip("._") or "certificate"


def _render(entry: Certificate, export_format: str, passphrase: bytes | None, export_password: bytes | None) -> bytes:
    if export_format == "csr":
        if not entry.csr_pem:
            raise RepositoryError(f"Certificate '{entry.name}' was not created from a CSR in this panel.")
        return entry.csr_pem.encode("ascii")
    if entry.is_pending:
        raise RepositoryError(f"'{entry.name}' is still waiting for the CA: only its CSR can be downloaded.")
    cert_pem, chain_pem = entry.certificate_pem.encode("ascii"), entry.chain_pem.encode("ascii")
    if export_format == "pem":
        return cert_pem
    if export_format == "fullchain":
        return cert_pem + chain_pem
    if export_format == "chain":
        if not chain_pem:
            raise RepositoryError(f"'{entry.name}' has no chain: it is self-signed or was stored without one.")
        return chain_pem
    if export_format == "der":
        return certificate_to_der(parse_certificates(cert_pem)[0])
    key = certificate_private_key(entry, passphrase=passphrase)
    if export_format == "key":
        return private_key_to_pem(key)
    if export_format == "combined":
        return cert_pem + chain_pem + private_key_to_pem(key)
    if not export_password:
        raise RepositoryError("Choose an export password: a PKCS#12 file always carries the private key.")
    return to_pkcs12(
        name=entry.name,
        key=key,
        cert=parse_certificates(cert_pem)[0],
        chain=parse_certificates(chain_pem) if chain_pem else [],
        password=export_password,
    )


def certificate_export(
    *,
    certificate_id: int,
    export_format: str,
    passphrase: bytes | None = None,
    export_password: bytes | None = None,
    user: User | None = None,
    actor: str = "",
) -> ExportFile:
    if export_format not in FORMATS:
        raise RepositoryError(f"Unknown export format '{export_format}': use one of {', '.join(FORMATS)}.")
    entry = certificate_get(certificate_id)
    content = _render(entry, export_format, passphrase, export_password)
    secret = export_format in SECRET_FORMATS
    if secret:
        with transaction.atomic():
            KeyExport.objects.create(
                certificate=entry,
                user=user if user is not None and user.is_authenticated else None,
                actor=actor or (user.get_username() if user is not None else "unknown"),
                export_format=export_format,
            )
            shell_user = f", by {actor}" if actor and user is None else ""
            audit_record(
                action=AuditAction.KEY_EXPORT, actor=user, target=entry, detail=f"{FORMATS[export_format]}{shell_user}"
            )
        log.info("private key of certificate #%s exported as %s by %s", entry.pk, export_format, actor)
    return ExportFile(
        filename=_safe_name(entry.name) + _SUFFIX[export_format],
        content=content,
        content_type=_TYPES.get(export_format, "application/x-pem-file"),
        secret=secret,
    )


MAX_BULK_EXPORT = 1000


def certificates_export_public(*, certificate_ids: Sequence[int]) -> ExportFile:
    """One zip of the selected entries' certificates and chains (PEM): public parts only, never a key, so nothing
    is audited. Pending CSRs have no certificate yet and are left out."""
    if len(certificate_ids) > MAX_BULK_EXPORT:
        raise RepositoryError(f"Export at most {MAX_BULK_EXPORT} certificates at once.")
    entries = (
        Certificate.objects.filter(pk__in=list(certificate_ids))
        .exclude(certificate_pem="")
        .only("id", "name", "certificate_pem", "chain_pem")
        .order_by("name", "id")
    )
    buffer = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            stem = f"{_safe_name(entry.name)}-{entry.pk}"
            archive.writestr(f"{stem}.crt", entry.certificate_pem)
            if entry.chain_pem:
                archive.writestr(f"{stem}-chain.pem", entry.chain_pem)
            count += 1
    if not count:
        raise RepositoryError(
            f"None of the selected entries has a certificate yet ({CertificateStatus.PENDING.label})."
        )
    log.info("exported %d public certificates as a zip", count)
    return ExportFile(
        filename="certificates.zip", content=buffer.getvalue(), content_type="application/zip", secret=False
    )
