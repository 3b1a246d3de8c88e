"""Deploying certificates to a listener: the pieces the state machine (services/deployments.py) drives —
where files go (only under the deploy roots) and what they hold, who owns them (an allow-list), the check and
reload commands (argument lists, never a shell), and the verification probes.

Writing the files, all-or-nothing, is services/staging.py.
"""

from __future__ import annotations

import grp
import logging
import pwd
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from certpanel.files import resolve_under
from repository.keystore import kek_path, key_load, next_kek_path
from repository.models import Certificate, PrivateKey
from repository.pki import keytypes
from repository.pki.convert import private_key_to_pem
from repository.pki.match import public_key_matches
from repository.pki.parse import parse_certificates
from services.daemons import ADAPTERS, action_for
from services.daemons.base import KINDS, Files
from services.errors import DeployError
from services.models import Listener
from services.probes.report import ProbeResult
from services.probes.run import ProbeTarget, probe_many
from services.redaction import redact
from services.staging import FileWrite

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 120
VERIFY_SECONDS = 10.0  # some daemons (nginx) swap workers asynchronously after a reload
CONFIRMATIONS = 3


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


def deploy_key_for(certificate: Certificate, deploy_key: PrivateKey | None) -> keytypes.PrivateKey:
    row = deploy_key or certificate.key
    if row is None:
        raise DeployError(f"Certificate '{certificate.name}' has no private key in the panel: it cannot be served.")
    if row.has_passphrase:
        raise DeployError(
            f"The key of '{certificate.name}' is protected by a passphrase: assign the certificate again and give "
            "the passphrase once, so the panel can write the key for the daemon."
        )
    return key_load(row)


def certificate_contents(certificate: Certificate, key: keytypes.PrivateKey) -> dict[str, bytes]:
    if certificate.is_pending:
        raise DeployError(f"'{certificate.name}' is a pending CSR, not a certificate yet.")
    leaf, chain = certificate.certificate_pem.encode(), certificate.chain_pem.encode()
    # Most daemons' config checks never open the TLS files, and a daemon reloaded onto a key that does
    # not match fails every handshake (or, like vsftpd and slapd, stops serving TLS): refuse first.
    if not public_key_matches(key, parse_certificates(leaf)[0]):
        raise DeployError(f"The private key does not match the certificate '{certificate.name}': nothing was written.")
    key_pem = private_key_to_pem(key)
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


def owner_check(owner: str, group: str) -> tuple[int, int]:
    """The owner and group a listener's files get, if the host allows them (CERTPANEL_DEPLOY_OWNERS/_GROUPS)."""
    for value, allowed, setting in (
        (owner, settings.CERTPANEL_DEPLOY_OWNERS, "CERTPANEL_DEPLOY_OWNERS"),
        (group, settings.CERTPANEL_DEPLOY_GROUPS, "CERTPANEL_DEPLOY_GROUPS"),
    ):
        if value and value not in allowed:
            what = "owner" if setting.endswith("OWNERS") else "group"
            raise DeployError(
                f"The {what} '{value}' is not allowed for deployed files: use one of {', '.join(allowed) or 'none'} "
                f"(the host sets {setting})."
            )
    return owner_ids(owner, group)


# -- where files may go -----------------------------------------------------------------------------------
def deploy_roots() -> list[Path]:
    """The directories daemon files may be written under: the deploy dir and CERTPANEL_DEPLOY_ROOTS."""
    return [Path(settings.CERTPANEL_DEPLOY_DIR), *(Path(root) for root in settings.CERTPANEL_DEPLOY_ROOTS)]


def deploy_path_check(path: str | Path) -> Path:
    """``path`` with its directory resolved, if it lies under a deploy root; DeployError saying why not.

    Never inside the panel's data dir (its keys), other than under the deploy dir."""
    found = resolve_under(Path(path), deploy_roots())
    if found is None:
        raise DeployError(
            f"{path} is outside the deploy roots ({', '.join(str(r) for r in deploy_roots())}): the host adds "
            "directories with CERTPANEL_DEPLOY_ROOTS."
        )
    real, _ = found
    data_dir = Path(settings.DATA_DIR).resolve()
    in_deploy_dir = resolve_under(Path(path), [Path(settings.CERTPANEL_DEPLOY_DIR)]) is not None
    if real.is_relative_to(data_dir) and not in_deploy_dir:
        raise DeployError(f"{path} is inside the panel's data dir, which holds its keys: choose another path.")
    return real


# -- commands ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Commands:
    """What a deployment runs after writing: argument lists, () for a step that runs nothing."""

    check: tuple[str, ...]
    reload: tuple[str, ...]


def host_command(command: str, *, what: str) -> tuple[str, ...]:
    """A command set on the host (CLI), split like a shell would split words — but run without one: no pipes,
    redirections, variables or `;`. For those the host writes `sh -c '…'` itself."""
    try:
        return tuple(shlex.split(command))
    except ValueError as exc:
        raise DeployError(f"The {what} command set on the host cannot be read ({exc}): {command}") from None


def listener_commands(listener: Listener) -> Commands:
    """The listener's host-set commands where it has them, its named action's otherwise."""
    action = action_for(listener.daemon, listener.action)
    check = host_command(listener.check_cmd, what="check") if listener.check_cmd.strip() else action.check
    reload = host_command(listener.reload_cmd, what="reload") if listener.reload_cmd.strip() else action.reload
    return Commands(check, reload)


def known_secrets() -> list[str]:
    """Values no command output may show: the panel's keys and passwords, and its secret files' contents."""
    found = [
        settings.SECRET_KEY,
        settings.CERTPANEL_KEY_ENCRYPTION_KEY,
        settings.CERTPANEL_ADMIN_PASSWORD,
        settings.EMAIL_HOST_PASSWORD,
    ]
    for path in (kek_path(), next_kek_path(), Path(settings.DATA_DIR) / "secret_key"):
        try:
            found.append(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return [value for value in found if value]


def run_command(argv: Sequence[str], journal: Callable[[str], None], what: str) -> bool:
    """Run ``argv`` (no shell) and journal it and its output, redacted of secrets; True when it exit 0."""
    if not argv:
        return True
    secrets = known_secrets()
    journal(f"{what}: {redact(shlex.join(argv), secrets)}")
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        journal(f"{what} timed out after {COMMAND_TIMEOUT} s")
        return False
    except OSError as exc:  # not found, not executable
        journal(f"{what} could not start {argv[0]}: {exc.strerror or exc}")
        return False
    output = redact((done.stdout + done.stderr).strip(), secrets)
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


def verify_targets(listener: Listener, found: list[Target], *, deadline: float) -> list[ProbeResult]:
    """Probe until every name serves its certificate or the deadline passes (reloads can be asynchronous)."""
    wanted = [
        ProbeTarget(listener.host, listener.port, listener.protocol, t.server_name, t.certificate.fingerprint_sha256)
        for t in found
    ]
    confirmed = 0
    while True:
        results = probe_many(wanted, timeout=5.0)
        # Several rounds in a row: after a graceful reload old workers may still answer for a moment.
        confirmed = confirmed + 1 if all(r.matches_expected for r in results) else 0
        if confirmed >= CONFIRMATIONS or time.monotonic() > deadline:
            return results
        time.sleep(0.2)
