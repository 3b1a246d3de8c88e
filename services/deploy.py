"""Deploying certificates to a listener: write files atomically, check, reload, verify — or roll back.

The listener never stays on a broken or wrong certificate: if the check, the reload or the
verification fails, the previous files come back and the daemon is reloaded again.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from repository import crypto
from repository.errors import RepositoryError
from repository.keyring import key_load
from repository.models import Certificate, PrivateKey
from services import probes
from services.daemons import ADAPTERS
from services.daemons.base import KINDS, Files
from services.models import Deployment, Listener

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 120
VERIFY_SECONDS = 10.0  # some daemons (nginx) swap workers asynchronously after a reload
CONFIRMATIONS = 3


class DeployError(RepositoryError):
    """A deployment step failed (the files were rolled back)."""


@dataclass
class FileWrite:
    path: Path
    content: bytes
    secret: bool


@dataclass
class Backup:
    path: Path
    previous: bytes | None  # None: the file did not exist before
    mode: int | None = None
    uid: int = -1
    gid: int = -1


@dataclass
class Journal:
    """The deployment's log, kept in the Deployment row as it goes (the UI shows it)."""

    deployment: Deployment
    lines: list[str] = field(default_factory=list)

    def __call__(self, message: str) -> None:
        line = f"{timezone.now():%H:%M:%S} {message}"
        self.lines.append(line)
        self.deployment.log = "\n".join(self.lines)
        self.deployment.save(update_fields=["log"])
        log.info("deployment #%s: %s", self.deployment.pk, message)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "listener"


def listener_files(listener: Listener, *, sni_name: str = "") -> Files:
    """Where each kind of file goes: the listener's own paths, else <deploy dir>/<listener>/[sni/<name>/]."""
    adapter = ADAPTERS[listener.daemon]
    base = Path(settings.CERTPANEL_DEPLOY_DIR) / _slug(listener.name)
    if sni_name:
        base = base / "sni" / _slug(sni_name)
    paths: dict[str, str] = {}
    for kind in KINDS:
        explicit = "" if sni_name else getattr(listener, f"{kind}_path")
        if explicit or kind in adapter.kinds:
            paths[kind] = explicit or str(base / f"{kind}.pem")
    return Files(paths)


def deploy_key_for(certificate: Certificate, deploy_key: PrivateKey | None) -> crypto.PrivateKey:
    row = deploy_key or certificate.key
    if row is None:
        raise DeployError(f"Certificate '{certificate.name}' has no private key in the panel: it cannot be served.")
    if row.has_passphrase:
        raise DeployError(
            f"The key of '{certificate.name}' is protected by a passphrase: assign the certificate again and give "
            "the passphrase once, so the panel can write the key for the daemon."
        )
    return key_load(row)


def certificate_contents(certificate: Certificate, key: crypto.PrivateKey) -> dict[str, bytes]:
    if certificate.is_pending:
        raise DeployError(f"'{certificate.name}' is a pending CSR, not a certificate yet.")
    leaf, chain = certificate.certificate_pem.encode(), certificate.chain_pem.encode()
    # Most daemons' config checks never open the TLS files, and a daemon reloaded onto a key that does
    # not match fails every handshake (or, like vsftpd and slapd, stops serving TLS): refuse first.
    if not crypto.public_key_matches(key, crypto.parse_certificates(leaf)[0]):
        raise DeployError(f"The private key does not match the certificate '{certificate.name}': nothing was written.")
    key_pem = crypto.private_key_to_pem(key)
    return {"cert": leaf, "chain": chain, "fullchain": leaf + chain, "key": key_pem, "combined": leaf + chain + key_pem}


def plan_writes(files: Files, contents: dict[str, bytes]) -> list[FileWrite]:
    writes = []
    for kind, path in files.paths.items():
        if kind == "chain" and not contents["chain"]:
            continue  # a self-signed certificate has no chain; an empty CA file breaks some daemons
        writes.append(FileWrite(Path(path), contents[kind], secret=kind in ("key", "combined")))
    return writes


def owner_ids(owner: str, group: str) -> tuple[int, int]:
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner else -1
    except KeyError:
        raise DeployError(f"Unknown owner or group: {owner}") from None
    try:
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError:
        raise DeployError(f"Unknown owner or group: {group}") from None
    return uid, gid


def write_atomically(write: FileWrite, *, uid: int, gid: int, mode: int | None = None) -> Backup:
    """temp file in the same directory, fsync, chown/chmod, rename; remembers what was there."""
    write.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    backup = Backup(write.path, None)
    if write.path.exists():
        info = write.path.stat()
        backup = Backup(write.path, write.path.read_bytes(), info.st_mode & 0o777, info.st_uid, info.st_gid)
    fd, temp = tempfile.mkstemp(dir=write.path.parent, prefix=f".{write.path.name}.")
    try:
        os.fchmod(fd, mode if mode is not None else 0o600 if write.secret else 0o644)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        with os.fdopen(fd, "wb") as handle:
            handle.write(write.content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, write.path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise DeployError(f"cannot write {write.path}: {exc.strerror}") from None
    if backup.previous is not None:
        keep = write.path.with_name(write.path.name + ".previous")
        keep.write_bytes(backup.previous)  # the admin's copy of what was served before
        os.chmod(keep, 0o600)
    return backup


def restore(backups: list[Backup]) -> None:
    """Put back exactly what was there: content, mode and owner (a 0640 key stays 0640)."""
    for backup in reversed(backups):
        if backup.previous is None:
            backup.path.unlink(missing_ok=True)
            continue
        write_atomically(
            FileWrite(backup.path, backup.previous, secret=True), uid=backup.uid, gid=backup.gid, mode=backup.mode
        )


def run_command(command: str, journal: Callable[[str], None], what: str) -> bool:
    if not command.strip():
        return True
    journal(f"{what}: {command}")
    try:
        done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        journal(f"{what} timed out after {COMMAND_TIMEOUT} s")
        return False
    output = (done.stdout + done.stderr).strip()
    if output:
        journal(output[-2000:])
    if done.returncode != 0:
        journal(f"{what} failed (exit {done.returncode})")
    return done.returncode == 0


@dataclass(frozen=True)
class Target:
    server_name: str
    certificate: Certificate
    files: Files
    deploy_key: PrivateKey | None


def targets(listener: Listener) -> list[Target]:
    if listener.certificate is None:
        raise DeployError(f"No certificate is assigned to {listener.name}.")
    found = [Target(server_name_of(listener), listener.certificate, listener_files(listener), listener.deploy_key)]
    for sni in listener.sni.select_related("certificate", "certificate__key", "deploy_key"):
        found.append(
            Target(sni.server_name, sni.certificate, listener_files(listener, sni_name=sni.server_name), sni.deploy_key)
        )
    return found


def server_name_of(listener: Listener) -> str:
    return listener.server_name or settings.CERTPANEL_HOSTNAME


def verify_targets(listener: Listener, found: list[Target], *, deadline: float) -> list[probes.ProbeResult]:
    """Probe until every name serves its certificate or the deadline passes (reloads can be asynchronous)."""
    wanted = [
        probes.ProbeTarget(
            listener.host, listener.port, listener.protocol, t.server_name, t.certificate.fingerprint_sha256
        )
        for t in found
    ]
    confirmed = 0
    while True:
        results = probes.probe_many(wanted, timeout=5.0)
        # Several rounds in a row: after a graceful reload old workers may still answer for a moment.
        confirmed = confirmed + 1 if all(r.matches_expected for r in results) else 0
        if confirmed >= CONFIRMATIONS or time.monotonic() > deadline:
            return results
        time.sleep(0.2)
