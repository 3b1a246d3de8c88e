"""Writes to listeners: create, assign certificates, deploy (the CLI's inline run), and the renewal hook."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from certpanel.audit.actions import AuditAction, audit_record, changed_fields
from repository.errors import CryptoError
from repository.keystore import key_load, key_store
from repository.models import Certificate
from repository.pki.hostnames import normalize_hostname
from services import deployments, selectors
from services.daemons import ACTIONS, ADAPTERS
from services.deploy import deploy_path_check, host_command, owner_check
from services.errors import DeployError, DeploymentLeased, ListenerBusy, ListenerError, NeedsConfirmation
from services.models import Deployment, Listener, SniCertificate, VerificationRun
from services.protocols import BY_CODE, PROTOCOLS
from services.tasks import queue_deployments, queue_deployments_then_verify, queue_verification

log = logging.getLogger(__name__)

PATH_FIELDS = ("cert_path", "key_path", "chain_path", "fullchain_path", "combined_path")
# What the web form and the CLI may set. Commands are not among them: only listener_commands_set (the host's CLI)
# sets those.
COMMAND_MAX_LENGTH = 1000  # Listener.check_cmd / reload_cmd
FIELDS = ("name", "protocol", "host", "port", "daemon", "server_name", *PATH_FIELDS, "owner", "group", "action")


def _check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ListenerError(f"These cannot be set here: {', '.join(unknown)}.")
    if fields.get("protocol") not in BY_CODE:
        raise ListenerError(f"Unknown protocol '{fields.get('protocol')}': use one of {', '.join(BY_CODE)}.")
    port = fields.get("port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ListenerError(f"'{port}' is not a port number (1-65535).")
    fields["daemon"] = fields.get("daemon") or BY_CODE[fields["protocol"]].daemon
    if fields["daemon"] not in ADAPTERS:
        raise ListenerError(f"Unknown daemon '{fields['daemon']}': use one of {', '.join(ADAPTERS)}.")
    fields["action"] = fields.get("action") or ""
    if fields["action"] and fields["action"] not in ACTIONS:
        raise ListenerError(f"Unknown action '{fields['action']}': use one of {', '.join(ACTIONS)}.")
    for name in ("host", "server_name"):
        if fields.get(name):
            fields[name] = normalize_hostname(fields[name], allow_wildcard=False)
    for name in PATH_FIELDS:
        if fields.get(name) and not str(fields[name]).startswith("/"):
            raise ListenerError(f"{name.replace('_', ' ')} must be an absolute path, not '{fields[name]}'.")
        if fields.get(name):
            try:
                deploy_path_check(str(fields[name]))
            except DeployError as exc:
                raise ListenerError(f"{name.replace('_', ' ').capitalize()}: {exc}") from None
    try:
        owner_check(fields.get("owner") or "", fields.get("group") or "")
    except DeployError as exc:
        raise ListenerError(str(exc)) from None
    if not str(fields.get("name", "")).strip():
        raise ListenerError("Give the listener a name.")
    return fields


def _where(listener: Listener) -> str:
    return f"{listener.protocol} on {listener.host or '*'}:{listener.port}, {listener.daemon}"


def listener_create(*, user: User | None = None, **fields: Any) -> Listener:
    fields = _check_fields(fields)
    try:
        with transaction.atomic():
            listener = Listener.objects.create(**fields)
            audit_record(action=AuditAction.LISTENER_ADD, actor=user, target=listener, detail=_where(listener))
            return listener
    except IntegrityError:
        raise ListenerError(f"A listener named '{fields['name']}' already exists.") from None


def listener_update(listener: Listener, *, user: User | None = None, **fields: Any) -> Listener:
    before = {f: getattr(listener, f) for f in FIELDS}
    merged = _check_fields({**before, **fields})
    for key, value in merged.items():
        setattr(listener, key, value)
    try:
        with transaction.atomic():
            listener.save()
            if changes := changed_fields(before, merged):
                audit_record(action=AuditAction.LISTENER_CHANGE, actor=user, target=listener, detail=changes)
    except IntegrityError:
        listener.refresh_from_db()
        raise ListenerError(f"A listener named '{merged['name']}' already exists.") from None
    return listener


def listener_delete(listener: Listener, *, user: User | None = None) -> None:
    """The listener and its history go; the files it deployed stay on disk for the daemon."""
    with transaction.atomic():
        audit_record(action=AuditAction.LISTENER_DELETE, actor=user, target=listener, detail=_where(listener))
        listener.delete()


def listener_commands_set(
    listener: Listener, *, check_cmd: str | None = None, reload_cmd: str | None = None
) -> Listener:
    """The host's own commands for a listener; None leaves one as it is, "" goes back to the named action.

    For the CLI only, which needs a shell on the host anyway: no view calls this, and no form has these fields.
    Each command is split into words with shlex and run without a shell (services/deploy.py).
    """
    changed = {}
    for field, value, what in (("check_cmd", check_cmd, "check"), ("reload_cmd", reload_cmd, "reload")):
        if value is None:
            continue
        value = value.strip()
        if len(value) > COMMAND_MAX_LENGTH:
            raise ListenerError(f"The {what} command is longer than {COMMAND_MAX_LENGTH} characters.")
        try:
            host_command(value, what=what)
        except DeployError as exc:
            raise ListenerError(str(exc)) from None
        changed[field] = value
    before = {field: getattr(listener, field) for field in changed}
    for field, value in changed.items():
        setattr(listener, field, value)
    if changed:
        with transaction.atomic():
            listener.save(update_fields=list(changed))
            if changes := changed_fields(before, changed):
                audit_record(action=AuditAction.LISTENER_COMMANDS, target=listener, detail=changes)
        log.info("listener %s: host-set commands changed (%s)", listener.name, ", ".join(changed))
    return listener


def listeners_ensure_defaults(certificate: Certificate | None) -> list[Listener]:
    """First start: the twelve secure listeners of a mail server, all on the panel's own certificate."""
    if Listener.objects.exists():
        return []
    created = []
    with transaction.atomic():
        for protocol in PROTOCOLS:
            listener = Listener.objects.create(
                name=protocol.label,
                protocol=protocol.code,
                port=protocol.port,
                daemon=protocol.daemon,
                certificate=certificate,
            )
            audit_record(action=AuditAction.LISTENER_ADD, target=listener, detail=f"{_where(listener)}, first start")
            created.append(listener)
    return created


def _deploy_key(certificate: Certificate, passphrase: bytes | None) -> Any:
    """A passphrase-protected key is unlocked once here and kept under the panel's encryption only:
    daemons cannot prompt for it at every reload."""
    if certificate.key is None:
        raise ListenerError(f"'{certificate.name}' has no private key in the panel: a daemon cannot serve it.")
    if not certificate.key.has_passphrase:
        return None
    if not passphrase:
        raise ListenerError(
            f"The key of '{certificate.name}' is protected by a passphrase. Enter it once: the panel keeps a copy "
            "under its own encryption to write the key file the daemon reads."
        )
    try:
        return key_store(key_load(certificate.key, passphrase=passphrase))
    except CryptoError:
        raise ListenerError(f"Wrong passphrase for the key of '{certificate.name}'.") from None


def listener_assign(
    listener: Listener,
    certificate_id: int,
    *,
    sni_name: str = "",
    passphrase: bytes | None = None,
    user: User | None = None,
) -> Listener:
    certificate = Certificate.objects.select_related("key").filter(pk=certificate_id).first()
    if certificate is None:
        raise ListenerError(f"There is no certificate #{certificate_id}.")
    if certificate.is_pending:
        raise ListenerError(f"'{certificate.name}' is a pending CSR: upload the CA's certificate first.")
    with transaction.atomic():
        key = _deploy_key(certificate, passphrase)
        if sni_name:
            name = normalize_hostname(sni_name)
            SniCertificate.objects.update_or_create(
                listener=listener, server_name=name, defaults={"certificate": certificate, "deploy_key": key}
            )
        else:
            listener.certificate, listener.deploy_key = certificate, key
            listener.save(update_fields=["certificate", "deploy_key"])
        where = f" for {sni_name}" if sni_name else ""
        detail = f"{certificate.name} (#{certificate.pk}){where}"
        audit_record(action=AuditAction.CERTIFICATE_ASSIGN, actor=user, target=listener, detail=detail)
    log.info(
        "listener %s: certificate #%s assigned%s", listener.name, certificate.pk, f" for {sni_name}" * bool(sni_name)
    )
    return listener


def _fitness_check(certificate: Certificate, names: list[str], *, confirmed: bool, where: str) -> None:
    """Expired: refused. Not yet valid or a name it does not cover: only once confirmed."""
    fit = selectors.certificate_fitness(certificate, names)
    if fit.refused:
        raise ListenerError(f"'{certificate.name}' cannot be used on {where}: {fit.refused}.")
    if fit.warnings and not confirmed:
        raise NeedsConfirmation(f"'{certificate.name}' on {where}: {'; '.join(fit.warnings)}. Tick to confirm.")


def listener_assign_and_deploy(
    listener: Listener,
    certificate_id: int,
    *,
    sni_name: str = "",
    passphrase: bytes | None = None,
    confirmed: bool = False,
    user: User | None = None,
) -> Deployment:
    """The page's "Save": assign, then queue a deployment (the CLI assigns and deploys in two commands).

    The page's guard rails hold here: an expired certificate is refused; one not valid yet, or not covering the
    SNI domain or the listener's server_name, needs ``confirmed``."""
    certificate = Certificate.objects.filter(pk=certificate_id).first()
    if certificate is None:
        raise ListenerError(f"There is no certificate #{certificate_id}.")
    sni_name = normalize_hostname(sni_name) if sni_name else ""  # a name that is no hostname is said as such
    where = f"{listener.name}{' for ' + sni_name if sni_name else ''}"
    _fitness_check(certificate, selectors.listener_names(listener, sni_name=sni_name), confirmed=confirmed, where=where)
    with transaction.atomic():
        listener_assign(listener, certificate_id, sni_name=sni_name, passphrase=passphrase, user=user)
        return queue_deployments([listener.pk], trigger="assigned", user=user)[0]


def listeners_replace(
    *,
    targets: list[str],
    certificate_id: int,
    passphrase: bytes | None = None,
    confirmed: bool = False,
    user: User | None = None,
) -> list[Deployment]:
    """ "Replace on all these services": every listener and SNI name in ``targets`` ("listener:<id>", "sni:<id>")
    gets the certificate, then a deployment each and a verification after it, in one transaction: either all
    are reassigned and queued, or nothing is."""
    certificate = Certificate.objects.select_related("key").filter(pk=certificate_id).first()
    if certificate is None or certificate.is_pending:
        raise ListenerError("Choose an issued certificate from the repository.")
    found = [target for key in dict.fromkeys(targets) if (target := selectors.replace_target_get(key))]
    if not found:
        raise ListenerError("Tick at least one service.")
    problems = []
    for target in found:
        try:
            _fitness_check(certificate, target.strict_names, confirmed=confirmed, where=target.name)
        except NeedsConfirmation as exc:
            problems.append(str(exc).removesuffix(" Tick to confirm."))
    if problems:
        raise NeedsConfirmation(f"{' '.join(problems)} Tick to confirm.")
    with transaction.atomic():
        key = _deploy_key(certificate, passphrase)
        touched: dict[int, Listener] = {}
        for target in found:
            if target.sni is not None:
                SniCertificate.objects.filter(pk=target.sni.pk).update(certificate=certificate, deploy_key=key)
            else:
                Listener.objects.filter(pk=target.listener.pk).update(certificate=certificate, deploy_key=key)
            touched[target.listener.pk] = target.listener
            where = f" for {target.sni.server_name}" if target.sni else ""
            detail = f"{certificate.name} (#{certificate.pk}){where}"
            audit_record(action=AuditAction.CERTIFICATE_ASSIGN, actor=user, target=target.listener, detail=detail)
        requested = queue_deployments_then_verify(list(touched), trigger="replaced", user=user)
    log.info("certificate #%s put on %s", certificate.pk, ", ".join(t.name for t in found))
    return requested


def listener_remove_sni(listener: Listener, sni_name: str, *, user: User | None = None) -> None:
    """One SNI name stops having its own certificate: queued for deployment, which rewrites the daemon's files."""
    with transaction.atomic():
        removed, _ = SniCertificate.objects.filter(listener=listener, server_name=sni_name).delete()
        if removed:
            audit_record(action=AuditAction.SNI_REMOVE, actor=user, target=listener, detail=sni_name)
        queue_deployments([listener.pk], trigger="sni removed", user=user)


def listener_deploy_queue(listener: Listener, *, trigger: str, user: User | None = None) -> None:
    """A deployment requested now and run by a worker once the caller's transaction commits."""
    with transaction.atomic():
        queue_deployments([listener.pk], trigger=trigger, user=user)


def listener_verify_queue(listener: Listener, *, user: User | None = None) -> int:
    """ "Verify": the listener marked queued and probed by a worker; 0 when it has no certificate to check."""
    with transaction.atomic():
        return queue_verification([listener.pk] if listener.certificate_id else [], user=user)


def listeners_verify_queue(*, user: User | None = None) -> int:
    """ "Verify all": every listener with a certificate marked queued, one task probes them; how many."""
    ids = list(selectors.listener_list().exclude(certificate=None).values_list("pk", flat=True))
    with transaction.atomic():
        return queue_verification(ids, user=user)


def deployment_retry(deployment_id: int, *, user: User | None = None) -> Deployment:
    """ "Redeploy" a failed or rolled-back deployment: a new deployment of the listener's current certificate."""
    failed = Deployment.objects.select_related("listener").get(pk=deployment_id)
    requested = queue_deployments([failed.listener_id], trigger=f"retry of #{failed.pk}", user=user)
    if not requested:
        raise ListenerError(f"The listener of deployment #{failed.pk} is gone.")
    return requested[0]


def verification_run_retry(run_id: int, *, user: User | None = None) -> int:
    """ "Verify again" for a failed verification run: its listeners that still have a certificate, queued."""
    run = VerificationRun.objects.get(pk=run_id)
    ids = Listener.objects.filter(pk__in=run.listener_ids).exclude(certificate=None).values_list("pk", flat=True)
    return queue_verification(list(ids), trigger=f"retry of run #{run.pk}", user=user)


def listener_deploy(listener_id: int, *, trigger: str = "manual") -> Deployment:
    """Request a deployment and drive it here (the CLI): waits while another deployment of the listener runs.

    If that one does not end within a lease period, the request stays queued and the sweep hands it to a worker.
    """
    listener = Listener.objects.select_related("certificate").get(pk=listener_id)
    deployment = deployments.deployment_request(listener, trigger=trigger)
    try:
        return deployments.deployment_run_waiting(deployment.pk, timeout=settings.CERTPANEL_DEPLOY_LEASE_SECONDS)
    except (ListenerBusy, DeploymentLeased) as exc:
        log.info("deployment #%s left queued: %s", deployment.pk, exc)
        deployment.refresh_from_db()
        return deployment


def listeners_move_certificate(*, old: Certificate, new: Certificate) -> list[str]:
    """The renewal hook: every listener (and SNI name) on ``old`` now serves ``new``, redeployed once committed.

    Called inside the renewal's transaction, so listeners never point at a half-stored certificate.
    """
    moved = list(Listener.objects.select_for_update().filter(certificate=old))
    for listener in moved:
        listener.certificate = new
        listener.save(update_fields=["certificate"])
    sni_listeners = list(Listener.objects.filter(sni__certificate=old).distinct())
    SniCertificate.objects.filter(certificate=old).update(certificate=new)
    touched = {listener.pk: listener for listener in [*moved, *sni_listeners]}
    for listener in touched.values():
        detail = f"{new.name} (#{new.pk}) in place of its renewed #{old.pk}"
        audit_record(action=AuditAction.CERTIFICATE_ASSIGN, target=listener, detail=detail)
    if touched:
        queue_deployments(list(touched), trigger="renewal")
        log.info(
            "certificate #%s replaced #%s on %s", new.pk, old.pk, ", ".join(item.name for item in touched.values())
        )
    return [listener.name for listener in touched.values()]
