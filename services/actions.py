"""Writes to listeners: create, assign certificates, deploy (with rollback), verify, and the renewal hook."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from repository import crypto
from repository.errors import CryptoError, RepositoryError
from repository.keyring import key_load, key_store
from repository.models import Certificate
from services import deploy, probes
from services.daemons import ADAPTERS, DEFAULT_DAEMON
from services.models import Deployment, DeploymentStatus, Listener, SniCertificate
from services.protocols import BY_CODE, PROTOCOLS

log = logging.getLogger(__name__)

PATH_FIELDS = ("cert_path", "key_path", "chain_path", "fullchain_path", "combined_path")


def _check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    if fields.get("protocol") not in BY_CODE:
        raise RepositoryError(f"Unknown protocol '{fields.get('protocol')}': use one of {', '.join(BY_CODE)}.")
    port = fields.get("port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise RepositoryError(f"'{port}' is not a port number (1-65535).")
    fields["daemon"] = fields.get("daemon") or DEFAULT_DAEMON[fields["protocol"]]
    if fields["daemon"] not in ADAPTERS:
        raise RepositoryError(f"Unknown daemon '{fields['daemon']}': use one of {', '.join(ADAPTERS)}.")
    for name in ("host", "server_name"):
        if fields.get(name):
            fields[name] = crypto.normalize_hostname(fields[name], allow_wildcard=False)
    for name in PATH_FIELDS:
        if fields.get(name) and not str(fields[name]).startswith("/"):
            raise RepositoryError(f"{name.replace('_', ' ')} must be an absolute path, not '{fields[name]}'.")
    if not str(fields.get("name", "")).strip():
        raise RepositoryError("Give the listener a name.")
    return fields


def listener_create(**fields: Any) -> Listener:
    fields = _check_fields(fields)
    try:
        with transaction.atomic():
            return Listener.objects.create(**fields)
    except IntegrityError:
        raise RepositoryError(f"A listener named '{fields['name']}' already exists.") from None


def listener_update(listener: Listener, **fields: Any) -> Listener:
    merged = _check_fields(
        {
            **{
                f: getattr(listener, f)
                for f in ("name", "protocol", "host", "port", "daemon", "server_name", *PATH_FIELDS)
            },
            **fields,
        }
    )
    for key, value in merged.items():
        setattr(listener, key, value)
    try:
        listener.save()
    except IntegrityError:
        raise RepositoryError(f"A listener named '{merged['name']}' already exists.") from None
    return listener


def listeners_ensure_defaults(certificate: Certificate | None) -> list[Listener]:
    """First start: the twelve secure listeners of a mail server, all on the panel's own certificate."""
    if Listener.objects.exists():
        return []
    return [
        Listener.objects.create(
            name=protocol.label,
            protocol=protocol.code,
            port=protocol.port,
            daemon=DEFAULT_DAEMON[protocol.code],
            certificate=certificate,
        )
        for protocol in PROTOCOLS
    ]


def _deploy_key(certificate: Certificate, passphrase: bytes | None) -> Any:
    """A passphrase-protected key is unlocked once here and kept under the panel's encryption only:
    daemons cannot prompt for it at every reload."""
    if certificate.key is None:
        raise RepositoryError(f"'{certificate.name}' has no private key in the panel: a daemon cannot serve it.")
    if not certificate.key.has_passphrase:
        return None
    if not passphrase:
        raise CryptoError(
            f"The key of '{certificate.name}' is protected by a passphrase. Enter it once: the panel keeps a copy "
            "under its own encryption to write the key file the daemon reads."
        )
    try:
        return key_store(key_load(certificate.key, passphrase=passphrase))
    except CryptoError:
        raise CryptoError(f"Wrong passphrase for the key of '{certificate.name}'.") from None


def listener_assign(
    listener: Listener, certificate_id: int, *, sni_name: str = "", passphrase: bytes | None = None
) -> Listener:
    certificate = Certificate.objects.select_related("key").filter(pk=certificate_id).first()
    if certificate is None:
        raise RepositoryError(f"There is no certificate #{certificate_id}.")
    if certificate.is_pending:
        raise RepositoryError(f"'{certificate.name}' is a pending CSR: upload the CA's certificate first.")
    with transaction.atomic():
        key = _deploy_key(certificate, passphrase)
        if sni_name:
            name = crypto.normalize_hostname(sni_name)
            SniCertificate.objects.update_or_create(
                listener=listener, server_name=name, defaults={"certificate": certificate, "deploy_key": key}
            )
        else:
            listener.certificate, listener.deploy_key = certificate, key
            listener.save(update_fields=["certificate", "deploy_key"])
    log.info(
        "listener %s: certificate #%s assigned%s", listener.name, certificate.pk, f" for {sni_name}" * bool(sni_name)
    )
    return listener


def listener_remove_sni(listener: Listener, sni_name: str) -> None:
    SniCertificate.objects.filter(listener=listener, server_name=sni_name).delete()


def listener_deploy(listener_id: int, *, trigger: str = "manual") -> Deployment:
    """Write, check, reload, verify; any failure restores the previous files and reloads again."""
    listener = Listener.objects.select_related("certificate", "certificate__key", "deploy_key").get(pk=listener_id)
    adapter = ADAPTERS[listener.daemon]
    deployment = Deployment.objects.create(
        listener=listener,
        certificate=listener.certificate,
        trigger=trigger,
        fingerprint_sha256=listener.certificate.fingerprint_sha256 if listener.certificate else "",
    )
    journal = deploy.Journal(deployment)
    backups: list[deploy.Backup] = []
    status, failure = DeploymentStatus.FAILED, ""
    results: list[probes.ProbeResult] = []
    try:
        found = deploy.targets(listener)
        uid, gid = deploy.owner_ids(listener.owner, listener.group)
        writes = [
            write
            for target in found
            for write in deploy.plan_writes(
                target.files,
                deploy.certificate_contents(
                    target.certificate, deploy.deploy_key_for(target.certificate, target.deploy_key)
                ),
            )
        ]
        for write in writes:
            backups.append(deploy.write_atomically(write, uid=uid, gid=gid))
            journal(f"wrote {write.path}{' (0600)' if write.secret else ''}")
        if not deploy.run_command(listener.check_cmd or adapter.check_cmd, journal, "check"):
            raise deploy.DeployError("the configuration check failed")
        if not deploy.run_command(listener.reload_cmd or adapter.reload_cmd, journal, "reload"):
            raise deploy.DeployError("the reload failed")
        results = deploy.verify_targets(listener, found, deadline=time.monotonic() + deploy.VERIFY_SECONDS)
        for result in results:
            verdict = "served the assigned certificate" if result.matches_expected else result.error or "different"
            journal(f"verify {result.server_name}: {verdict}")
        if not all(r.matches_expected for r in results):
            raise deploy.DeployError("the port does not serve the assigned certificate")
        status = DeploymentStatus.SUCCEEDED
        _store_report(listener, results)
    except Exception as exc:  # whatever failed, the previous files come back
        failure = str(exc) if isinstance(exc, RepositoryError) else f"unexpected {type(exc).__name__}: {exc}"
        if not isinstance(exc, RepositoryError):
            log.exception("deployment #%s of %s", deployment.pk, listener.name)
        journal(f"failed: {failure}")
        if backups:
            deploy.restore(backups)
            journal("restored the previous files")
            status = DeploymentStatus.ROLLED_BACK
            deploy.run_command(listener.reload_cmd or adapter.reload_cmd, journal, "reload after rollback")
    deployment.status, deployment.finished_at = status, timezone.now()
    deployment.save(update_fields=["status", "finished_at"])
    from services.alerts import listener_alert_update

    # A failure alerts (once per incident); a success after one sends the recovery email.
    extra = [f"deployment #{deployment.pk} {status.replace('_', ' ')}: {failure}"] if failure else []
    listener_alert_update(listener, results, extra=extra)
    return deployment


def _store_report(listener: Listener, results: list[probes.ProbeResult]) -> None:
    listener.last_verified_at = timezone.now()
    listener.last_verify_ok = all(r.ok for r in results)
    listener.last_report = [_report(r) for r in results]
    listener.save(update_fields=["last_verified_at", "last_verify_ok", "last_report"])


def _report(result: probes.ProbeResult) -> dict[str, Any]:
    data = asdict(result)
    data.pop("served_chain_pem", None)
    data["not_after"] = result.not_after.isoformat() if result.not_after else None
    return data


def listener_verify(listener: Listener) -> list[probes.ProbeResult]:
    """Probe the listener (and each SNI name); alert once per incident, and on recovery."""
    found = [(deploy.server_name_of(listener), listener.certificate)]
    found += [(s.server_name, s.certificate) for s in listener.sni.select_related("certificate")]
    results = probes.probe_many(
        [
            probes.ProbeTarget(
                listener.host,
                listener.port,
                listener.protocol,
                name,
                certificate.fingerprint_sha256 if certificate else "",
            )
            for name, certificate in found
        ]
    )
    _store_report(listener, results)
    from services.alerts import listener_alert_update

    listener_alert_update(listener, results)
    return results


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
    if touched:
        from services.tasks import queue_deployments

        queue_deployments(list(touched), trigger="renewal")
        log.info(
            "certificate #%s replaced #%s on %s", new.pk, old.pk, ", ".join(item.name for item in touched.values())
        )
    return [listener.name for listener in touched.values()]
