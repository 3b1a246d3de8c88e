"""Import an existing certbot tree (e.g. /etc/letsencrypt) so that the panel renews its certificates itself.

Only the current certificate of each lineage (what ``live/`` points to) is imported, with the ACME
account certbot renews it with. certbot's files are only read, never changed. One broken lineage
never stops the others: each of its problems becomes an admin-readable ``skipped`` reason.
"""

from __future__ import annotations

import json
import logging
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from certpanel.audit.actions import AuditAction, audit_record
from repository.acme.client import private_key_from_jwk
from repository.acme.renewals import certificate_schedule_renewal
from repository.actions import fill_from_x509
from repository.errors import RepositoryError
from repository.keystore import key_store
from repository.models import AcmeAccount, Certificate, CertificateSource
from repository.pki.chain import order_chain
from repository.pki.describe import fingerprint_sha256
from repository.pki.keytypes import PrivateKey
from repository.pki.match import public_key_matches
from repository.pki.parse import load_private_key, parse_certificates

__all__ = ["CertbotImport", "certbot_import", "parse_renewal_conf"]

log = logging.getLogger(__name__)

# certbot's files are a few KB; the bound keeps a conf that points at a huge file from eating memory.
MAX_FILE_BYTES = 1024 * 1024
MAX_URL_LENGTH = 500  # AcmeAccount's URL columns
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # certbot uses 32 hex digits; anything path-like is refused
_SECTION = re.compile(r"(\[+)\s*([^\[\]]+?)\s*(\]+)")
_QUOTED = re.compile(r"""(["'])(.*)\1\s*(?:#.*)?""")


@dataclass
class CertbotImport:
    accounts: list[AcmeAccount] = field(default_factory=list)  # created or reused for the imported certificates
    certificates: list[Certificate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Skip(Exception):
    """One lineage cannot be imported; the message is the admin-readable reason."""


@dataclass(frozen=True)
class _AccountFiles:
    server: str
    host: str
    uri: str
    email: str
    terms_of_service: str
    key: PrivateKey


@dataclass(frozen=True)
class _Lineage:
    name: str
    leaf: x509.Certificate
    chain: list[x509.Certificate]
    key: PrivateKey
    account: _AccountFiles


# --- renewal/<lineage>.conf ---------------------------------------------------------------------


def parse_renewal_conf(text: str) -> dict[str, dict[str, str]]:
    """certbot's renewal conf (written by configobj) as {section: {key: value}}.

    Top-level keys are under "", ``[renewalparams]`` under "renewalparams" and a subsection such as
    ``[[webroot_map]]`` under "renewalparams.webroot_map". Values stay strings (lists too).
    """
    sections: dict[str, dict[str, str]] = {"": {}}
    path: list[str] = []
    current = sections[""]
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            path = _section_path(line, path, number)
            current = sections.setdefault(".".join(path), {})
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            raise RepositoryError(f"line {number}: expected 'key = value'")
        current[key.strip()] = _conf_value(value.strip())
    return sections


def _section_path(line: str, path: list[str], number: int) -> list[str]:
    match = _SECTION.fullmatch(line)
    depth = len(match[1]) if match else 0
    if match is None or depth != len(match[3]) or depth > len(path) + 1:
        raise RepositoryError(f"line {number}: malformed section header")
    return [*path[: depth - 1], match[2]]


def _conf_value(raw: str) -> str:
    # configobj quotes a value that holds '#' and allows a trailing comment after any value.
    quoted = _QUOTED.fullmatch(raw)
    if quoted:
        return quoted[2]
    return raw.split("#", 1)[0].rstrip()


# --- files ----------------------------------------------------------------------------------------


def _renewal_confs(directory: Path) -> list[Path]:
    not_certbot = RepositoryError(
        f"'{directory}' is not a certbot directory (expected renewal/*.conf, live/ and accounts/)"
    )
    try:
        entries = list((directory / "renewal").iterdir())
    except PermissionError:
        raise RepositoryError(f"cannot read '{directory / 'renewal'}': permission denied") from None
    except OSError:
        raise not_certbot from None
    # Hidden files are editor and backup leftovers, not lineages certbot would renew.
    confs = sorted(p for p in entries if p.suffix == ".conf" and not p.name.startswith("."))
    if not confs:
        raise not_certbot
    return confs


def _present(path: Path) -> bool:
    """False only when the file is certainly absent; an unreadable file is left to `_read` to explain."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def _read(path: Path, label: str) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise _Skip(f"{label} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _Skip(f"{label} is larger than {MAX_FILE_BYTES // 1024} KB")
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise _Skip(f"{label} is missing") from None
    except PermissionError:
        # certbot makes live/, archive/ and accounts/ readable by root only.
        raise _Skip(f"cannot read {label}: permission denied (run the import as root)") from None
    except OSError as exc:
        raise _Skip(f"cannot read {label}: {(exc.strerror or type(exc).__name__).lower()}") from None


def _lineage_file(root: Path, lineage: str, conf_value: str | None, filename: str) -> Path:
    """The file the conf names, unless it lies outside the tree (a copy whose conf still names the original)."""
    fallback = root / "live" / lineage / filename
    if not conf_value:
        return fallback
    named = Path(conf_value)
    # Resolving follows live/ -> archive/; the original tree may still exist elsewhere with other content.
    if named.is_absolute() and _resolves_under(named, root) and _present(named):
        return named
    return fallback


def _resolves_under(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False


def _load_certificates(files: dict[str, Path]) -> list[x509.Certificate]:
    """fullchain.pem, else cert.pem plus chain.pem (the chain may be absent)."""
    if _present(files["fullchain"]):
        return _parse_certificates(files["fullchain"], "fullchain.pem")
    certificates = _parse_certificates(files["cert"], "cert.pem")
    if _present(files["chain"]):
        certificates += _parse_certificates(files["chain"], "chain.pem")
    return certificates


def _parse_certificates(path: Path, label: str) -> list[x509.Certificate]:
    try:
        return parse_certificates(_read(path, label))
    except RepositoryError as exc:
        raise _Skip(f"{label}: {exc}") from None


def _load_key(path: Path) -> PrivateKey:
    try:
        return load_private_key(_read(path, "privkey.pem"))
    except RepositoryError as exc:
        raise _Skip(f"privkey.pem: {exc}") from None


# --- accounts/<server host>/<server path>/<id>/ -------------------------------------------------------


def _account_dir(root: Path, server: str, account_id: str) -> tuple[Path, str]:
    """certbot keeps an account under accounts/ + the server URL without its scheme (host:port/path)."""
    parts = urlsplit(server)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("https", "http") or not parts.netloc or len(server) > MAX_URL_LENGTH:
        raise _Skip(f"the ACME server {server!r} is not an http(s) URL")
    # The URL and id come from a file: no segment may climb out of accounts/.
    if any(s in (".", "..") for s in [parts.netloc, *segments]) or "\\" in server:
        raise _Skip(f"the ACME server {server!r} is not a usable directory URL")
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise _Skip(f"the account id {account_id!r} is not a certbot account id")
    return root.joinpath("accounts", parts.netloc, *segments, account_id), parts.netloc


def _read_json(path: Path, label: str) -> dict[str, Any]:
    try:
        data = json.loads(_read(path, label))
    except (ValueError, UnicodeDecodeError):
        raise _Skip(f"{label} is not valid JSON") from None
    if not isinstance(data, dict):
        raise _Skip(f"{label} is not a JSON object")
    return data


def _contact_email(regr: dict[str, Any]) -> str:
    body = regr.get("body")
    contacts = body.get("contact") if isinstance(body, dict) else None
    for contact in contacts if isinstance(contacts, list) else []:
        if isinstance(contact, str) and contact.lower().startswith("mailto:"):
            email = contact[len("mailto:") :]
            try:
                validate_email(email)
            except ValidationError:
                continue
            return email
    return ""


def _load_account(root: Path, params: dict[str, str]) -> _AccountFiles:
    server, account_id = params.get("server", ""), params.get("account", "")
    if not server or not account_id:
        raise _Skip("the renewal conf names no ACME account or server ([renewalparams] account, server)")
    directory, host = _account_dir(root, server, account_id)
    shown = directory.relative_to(root)
    if not _present(directory):
        raise _Skip(f"the ACME account {shown} is missing")
    jwk = _read_json(directory / "private_key.json", f"{shown}/private_key.json")
    regr = _read_json(directory / "regr.json", f"{shown}/regr.json")
    try:
        key = private_key_from_jwk(jwk)
    except RepositoryError as exc:
        raise _Skip(f"{shown}/private_key.json: {exc}") from None
    uri = regr.get("uri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")) or len(uri) > MAX_URL_LENGTH:
        raise _Skip(f"{shown}/regr.json holds no account URL")
    terms = regr.get("terms_of_service")
    terms = terms if isinstance(terms, str) and len(terms) <= MAX_URL_LENGTH else ""
    return _AccountFiles(server, host, uri, _contact_email(regr), terms, key)


# --- one lineage ----------------------------------------------------------------------------------


def _read_lineage(root: Path, conf_path: Path) -> _Lineage:
    """Everything a lineage needs, read and checked before anything is written."""
    name = conf_path.stem
    try:
        conf = parse_renewal_conf(_read(conf_path, f"renewal/{conf_path.name}").decode("utf-8"))
    except UnicodeDecodeError:
        raise _Skip(f"renewal/{conf_path.name} is not UTF-8 text") from None
    except RepositoryError as exc:
        raise _Skip(f"renewal/{conf_path.name} {exc}") from None
    files = {
        kind: _lineage_file(root, name, conf[""].get(kind), f"{kind}.pem")
        for kind in ("cert", "chain", "fullchain", "privkey")
    }
    certificates = _load_certificates(files)
    key = _load_key(files["privkey"])
    leaf, chain = order_chain(certificates)
    if not public_key_matches(key, leaf):
        raise _Skip("privkey.pem does not match the certificate")
    _refuse_duplicate(leaf)
    return _Lineage(name, leaf, chain, key, _load_account(root, conf.get("renewalparams", {})))


def _refuse_duplicate(leaf: x509.Certificate) -> None:
    existing = Certificate.objects.filter(fingerprint_sha256=fingerprint_sha256(leaf)).first()
    if existing is not None:
        raise _Skip(f"the certificate is already in the repository as #{existing.pk} ({existing.name})")


def _account_for(files: _AccountFiles) -> AcmeAccount:
    existing = AcmeAccount.objects.filter(directory_url=files.server, uri=files.uri).order_by("pk").first()
    if existing is not None:
        return existing
    account = AcmeAccount.objects.create(
        name=f"certbot {files.host}"[:100],
        directory_url=files.server,
        email=files.email,
        key=key_store(files.key),
        uri=files.uri,
        terms_of_service=files.terms_of_service,
    )
    audit_record(action=AuditAction.ACME_ACCOUNT_CREATE, target=account, detail=f"{files.server}, from certbot")
    return account


def _store(lineage: _Lineage) -> Certificate:
    """Account and certificate in one transaction: no half-imported lineage, no orphaned key."""
    with transaction.atomic():
        account = _account_for(lineage.account)
        entry = Certificate(
            name=lineage.name,
            source=CertificateSource.ACME,
            key=key_store(lineage.key),
            auto_renew=True,
            acme_account=account,
        )
        fill_from_x509(entry, lineage.leaf, lineage.chain)
        certificate_schedule_renewal(entry)
        entry.save()
        audit_record(action=AuditAction.CERTIFICATE_IMPORT, target=entry, detail="from certbot, with its key")
    return entry


def _import_one(root: Path, conf_path: Path, result: CertbotImport) -> None:
    entry = _store(_read_lineage(root, conf_path))
    account = entry.acme_account
    if account is not None and all(a.pk != account.pk for a in result.accounts):
        result.accounts.append(account)
    result.certificates.append(entry)
    log.info(
        "imported certbot lineage %s as certificate #%s (account #%s), renews at %s",
        entry.name,
        entry.pk,
        entry.acme_account_id,
        entry.renew_at,
    )


def certbot_import(directory: Path) -> CertbotImport:
    """Import each lineage's current certificate and its account; problems become ``skipped`` reasons."""
    confs = _renewal_confs(directory)
    root = directory.resolve()
    result = CertbotImport()
    for conf_path in confs:
        reason = f"lineage {conf_path.stem}: "
        try:
            _import_one(root, conf_path, result)
        except (_Skip, RepositoryError) as exc:  # RepositoryError: e.g. a chain helper's CryptoError
            result.skipped.append(reason + str(exc))
        except Exception as exc:
            # A batch import must not lose every other lineage to one surprise; the log has the details.
            log.exception("certbot lineage %s could not be imported", conf_path.stem)
            result.skipped.append(f"{reason}unexpected failure ({type(exc).__name__}); see the log for details")
    return result
