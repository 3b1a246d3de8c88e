"""Deployments: requested (a queued row), then driven through the state machine until they end.

    queued → writing → checking → reloading → verifying → succeeded
    a failure once files were replaced → rolling_back → rolled_back (previous files restored) or failed
    a failure before any file was replaced → failed ("nothing was changed")

Every transition is a line of the deployment's log, which the UI shows. The plan — every target, its staged new
file and its kept previous one — is stored before any target is replaced, and every step can be run again, so
whoever resumes a deployment whose worker died (a redelivered task, the sweep) takes it to a final state: forward
from where it stopped, or back. A lease on the row keeps two workers from driving one deployment at once, and a
listener has one deployment in flight at a time (two writing the same files would undo each other).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from certpanel.audit.actions import AuditAction, audit_record
from certpanel.leases import Lease, rows_of
from services import deploy, staging
from services.alerts import listener_alert_update
from services.errors import DeployError, DeploymentLeased, ListenerBusy, StagingError
from services.models import FINAL_DEPLOYMENT_STATUSES, Deployment, DeploymentStatus, Listener
from services.probes.report import ProbeResult
from services.verification import listener_report_store

log = logging.getLogger(__name__)

S = DeploymentStatus
TRANSITIONS: dict[str, set[str]] = {
    S.QUEUED: {S.WRITING, S.FAILED},
    # From every step after the files were replaced: forward, or back. FAILED stays possible from each, because
    # a disk or daemon may leave nothing to roll back to (a rollback that itself cannot rename, say).
    S.WRITING: {S.CHECKING, S.ROLLING_BACK, S.FAILED},
    S.CHECKING: {S.RELOADING, S.ROLLING_BACK, S.FAILED},
    S.RELOADING: {S.VERIFYING, S.ROLLING_BACK, S.FAILED},
    S.VERIFYING: {S.SUCCEEDED, S.ROLLING_BACK, S.FAILED},
    S.ROLLING_BACK: {S.ROLLED_BACK, S.FAILED},
    S.SUCCEEDED: set(),
    S.ROLLED_BACK: set(),
    S.FAILED: set(),
}
ACTIVE_STATUSES = [status for status, onward in TRANSITIONS.items() if onward]


def deployment_request(listener: Listener, *, trigger: str, user: User | None = None) -> Deployment:
    """A queued deployment of the listener as it will be when a worker takes it (the caller queues it)."""
    with transaction.atomic():
        deployment = Deployment.objects.create(
            listener=listener,
            certificate=listener.certificate,
            fingerprint_sha256=listener.certificate.fingerprint_sha256 if listener.certificate else "",
            trigger=trigger,
            log=f"{timezone.now():%H:%M:%S} queued ({trigger})",
        )
        certificate = f"{listener.certificate.name} (#{listener.certificate.pk})" if listener.certificate else "none"
        audit_record(
            action=AuditAction.DEPLOYMENT_REQUEST,
            actor=user,
            target=listener,
            detail=f"deployment #{deployment.pk} ({trigger}), certificate {certificate}",
        )
    return deployment


# -- leases -----------------------------------------------------------------------------------------------
LEASE = Lease(seconds=lambda: settings.CERTPANEL_DEPLOY_LEASE_SECONDS)


def _lease(deployment_id: int) -> str:
    """Take the deployment's lease, or raise: DeploymentLeased (someone drives it), ListenerBusy (wait)."""
    now = timezone.now()
    with transaction.atomic():
        # Locks the deployment and its listener: two deployments of one listener take their leases in turn.
        row = Deployment.objects.select_for_update().select_related("listener").get(pk=deployment_id)
        if row.lease_until is not None and row.lease_until >= now:
            raise DeploymentLeased(f"Deployment #{deployment_id} is being driven by another worker.")
        other = (
            Deployment.objects.filter(listener_id=row.listener_id, status__in=ACTIVE_STATUSES)
            .exclude(pk=row.pk)
            .filter(~Q(status=S.QUEUED) | Q(lease_until__gte=now))
            .order_by("pk")
            .first()
        )
        if other is not None:
            raise ListenerBusy(f"Deployment #{other.pk} of {row.listener.name} is still in progress.")
        return LEASE.grant(rows_of(Deployment, deployment_id))


def _save(deployment: Deployment, token: str, *fields: str) -> None:
    """Every write of a running deployment renews its lease, and fails if another worker took it over."""
    values: dict[str, Any] = {name: getattr(deployment, name) for name in fields}
    if not LEASE.renew(rows_of(Deployment, deployment.pk), token, **values):
        raise DeploymentLeased(f"Deployment #{deployment.pk} was taken over by another worker.")


def _release(deployment_id: int, token: str) -> None:
    LEASE.release(rows_of(Deployment, deployment_id), token)


# -- the log and the transitions --------------------------------------------------------------------------
def _append(deployment: Deployment, message: str) -> None:
    line = f"{timezone.now():%H:%M:%S} {message}"
    deployment.log = f"{deployment.log}\n{line}" if deployment.log else line
    log.info("deployment #%s: %s", deployment.pk, message)


def _note(deployment: Deployment, token: str, message: str) -> None:
    _append(deployment, message)
    _save(deployment, token, "log")


def _event(deployment: Deployment, token: str, status: str, message: str = "") -> None:
    if status != deployment.status and status not in TRANSITIONS[deployment.status]:
        raise AssertionError(f"deployment #{deployment.pk}: {deployment.status} → {status} is not a valid transition")
    deployment.status = status
    if status in FINAL_DEPLOYMENT_STATUSES:
        deployment.finished_at = timezone.now()
    _append(deployment, f"→ {S(status).label.lower()}{': ' + message if message else ''}")
    _save(deployment, token, "status", "log", "error", "plan", "finished_at", "certificate", "fingerprint_sha256")


# -- the state machine ------------------------------------------------------------------------------------
def deployment_run(deployment_id: int) -> Deployment:
    """Drive (or resume) one deployment to a final state; returns it.

    Raises DeploymentLeased when another worker drives it and ListenerBusy while another deployment of the
    listener is in flight; database errors propagate (the task retries, and a resume continues from the row).
    """
    deployment = Deployment.objects.select_related("listener").get(pk=deployment_id)
    if deployment.is_final:
        return deployment
    token = _lease(deployment_id)
    results: list[ProbeResult] = []
    try:
        deployment.refresh_from_db()
        if deployment.is_final:  # ended by another worker between our read and our lease
            return deployment
        deployment.attempts += 1
        _save(deployment, token, "attempts")
        if deployment.attempts > 1:
            _note(deployment, token, f"resumed at '{S(deployment.status).label.lower()}' by another worker")
        results = _drive(deployment, token)
    except (DeploymentLeased, DatabaseError):
        raise
    except (DeployError, StagingError) as exc:  # understood: the message says it all
        _abort(deployment, token, str(exc))
    except Exception as exc:  # a bug, not the disk or the daemon: keep the traceback, still end the deployment
        log.exception("deployment #%s of %s", deployment.pk, deployment.listener.name)
        _abort(deployment, token, f"unexpected {type(exc).__name__}: {exc}")
    finally:
        _release(deployment_id, token)
    if deployment.is_final:
        _alert(deployment, results)
    return deployment


def deployment_run_waiting(deployment_id: int, *, timeout: float) -> Deployment:
    """For the CLI, which runs a deployment inline: wait for another deployment of the listener to end."""
    limit = time.monotonic() + timeout
    while True:
        try:
            return deployment_run(deployment_id)
        except ListenerBusy:
            if time.monotonic() > limit:
                raise
            time.sleep(1.0)


def _staged(deployment: Deployment) -> list[staging.Staged]:
    return [staging.Staged.from_json(item) for item in deployment.plan.get("files", [])]


def _drive(deployment: Deployment, token: str) -> list[ProbeResult]:
    """Each step runs when the row is at it, so a resumed deployment starts where the last worker stopped."""
    listener = Listener.objects.select_related("certificate", "certificate__key", "deploy_key").get(
        pk=deployment.listener_id
    )
    commands = deploy.listener_commands(listener)

    def journal(message: str) -> None:
        _note(deployment, token, message)

    if deployment.status == S.QUEUED:
        _event(deployment, token, S.WRITING)
    if deployment.status == S.WRITING:
        if not deployment.plan.get("files"):
            try:
                staged = _stage(deployment, listener)
            except (DeployError, StagingError) as exc:
                deployment.error = _then(str(exc), ": nothing was changed")
                _event(deployment, token, S.FAILED, deployment.error)
                return []
            deployment.plan = {"files": [item.as_json() for item in staged], "reload_after_rollback": False}
            _append(deployment, f"staged {len(staged)} file(s) beside their targets")
            _save(deployment, token, "plan", "log", "certificate", "fingerprint_sha256")
        try:
            staging.files_swap(_staged(deployment))
        except StagingError as exc:
            return _roll_back(deployment, token, listener, str(exc))
        for item in _staged(deployment):
            journal(f"wrote {item.path}")
        _event(deployment, token, S.CHECKING)
    if deployment.status == S.CHECKING:
        if not deploy.run_command(commands.check, journal, "check"):
            return _roll_back(deployment, token, listener, "the configuration check failed")
        deployment.plan["reload_after_rollback"] = True  # from here the daemon may have loaded the new files
        _event(deployment, token, S.RELOADING)
    if deployment.status == S.RELOADING:
        if not deploy.run_command(commands.reload, journal, "reload"):
            return _roll_back(deployment, token, listener, "the reload failed")
        _event(deployment, token, S.VERIFYING)
    if deployment.status == S.VERIFYING:
        return _verify(deployment, token, listener)
    if deployment.status == S.ROLLING_BACK:  # a rollback whose worker died: finish it
        return _roll_back(deployment, token, listener, deployment.error or "interrupted")
    return []


def _stage(deployment: Deployment, listener: Listener) -> list[staging.Staged]:
    found = deploy.targets(listener)
    uid, gid = deploy.owner_check(listener.owner, listener.group)
    writes = []
    for target in found:
        key = deploy.deploy_key_for(target.certificate, target.deploy_key)
        writes += deploy.plan_writes(target.files, deploy.certificate_contents(target.certificate, key))
    for write in writes:
        deploy.deploy_path_check(write.path)  # the roots and the data dir, in the words of the settings
    deployment.certificate = listener.certificate
    deployment.fingerprint_sha256 = listener.certificate.fingerprint_sha256 if listener.certificate else ""
    deploy_dir = Path(settings.CERTPANEL_DEPLOY_DIR)
    try:
        deploy_dir.mkdir(parents=True, exist_ok=True, mode=0o750)  # the host's choice; the roots must exist
    except OSError as exc:
        raise StagingError(staging.disk_error(exc, deploy_dir / "x")) from None
    tag = f"certpanel-{deployment.pk}"
    return staging.files_stage(writes, uid=uid, gid=gid, tag=tag, roots=deploy.deploy_roots())


def _verify(deployment: Deployment, token: str, listener: Listener) -> list[ProbeResult]:
    results = deploy.verify_targets(
        listener, deploy.targets(listener), deadline=time.monotonic() + deploy.VERIFY_SECONDS
    )
    for result in results:
        verdict = "served the assigned certificate" if result.matches_expected else result.error or "different"
        _note(deployment, token, f"verify {result.server_name}: {verdict}")
    if not all(r.matches_expected for r in results):
        return _roll_back(
            deployment, token, listener, "the port does not serve the assigned certificate", results=results
        )
    try:
        staging.files_finish(_staged(deployment))
    except OSError as exc:  # the new files are in place and served; only the admin's .previous copy is missing
        _note(deployment, token, f"could not keep the previous files as .previous: {exc.strerror}")
    listener_report_store(listener, results)
    _event(deployment, token, S.SUCCEEDED)
    return results


def _roll_back(
    deployment: Deployment,
    token: str,
    listener: Listener,
    reason: str,
    *,
    results: list[ProbeResult] | None = None,
) -> list[ProbeResult]:
    """Renames only: every replaced target gets its previous file back, and the daemon is reloaded onto it."""
    if deployment.status != S.ROLLING_BACK:
        deployment.error = reason
        _event(deployment, token, S.ROLLING_BACK, reason)
    staged = _staged(deployment)
    try:
        restored = staging.files_restore(staged)
    except OSError as exc:
        where = Path(exc.filename or staged[0].path)
        deployment.error = _then(
            reason, f"; the previous files could not be restored: {staging.disk_error(exc, where)}"
        )
        _event(deployment, token, S.FAILED, deployment.error)
        return results or []
    if not restored:
        deployment.error = _then(reason, ": nothing was changed")
        _event(deployment, token, S.FAILED, deployment.error)
        return results or []
    _note(deployment, token, f"restored the previous files ({restored})")
    if deployment.plan.get("reload_after_rollback"):
        try:
            reload = deploy.listener_commands(listener).reload
        except DeployError as exc:
            _note(deployment, token, f"no reload after rollback: {exc}")
        else:
            deploy.run_command(reload, lambda m: _note(deployment, token, m), "reload after rollback")
    deployment.error = _then(reason, "; previous files restored")
    _event(deployment, token, S.ROLLED_BACK, deployment.error)
    return results or []


def _abort(deployment: Deployment, token: str, reason: str) -> None:
    """End a deployment a bug interrupted: back if files may have been replaced, otherwise failed."""
    if deployment.is_final:
        return
    if deployment.plan.get("files"):
        listener = Listener.objects.get(pk=deployment.listener_id)
        _roll_back(deployment, token, listener, reason)
        return
    deployment.error = _then(reason, ": nothing was changed")
    _event(deployment, token, S.FAILED, deployment.error)


def _then(reason: str, outcome: str) -> str:
    """'No certificate is assigned to X.' + ': nothing was changed', as one sentence."""
    return reason.rstrip(". ") + outcome


def _alert(deployment: Deployment, results: list[ProbeResult]) -> None:
    """A failure alerts (once per incident); a success after one sends the recovery email."""
    extra = []
    if deployment.status != S.SUCCEEDED:
        extra = [f"deployment #{deployment.pk} {S(deployment.status).label.lower()}: {deployment.error}"]
    listener_alert_update(deployment.listener, results, extra=extra)


# -- the sweep --------------------------------------------------------------------------------------------
def deployments_to_resume(now: datetime) -> list[int]:
    """Deployments nobody drives: queued ones no worker picked up (the broker was down, say) and in-flight ones
    whose lease expired (their worker died). Cheap: one indexed query."""
    grace = now - timedelta(seconds=settings.CERTPANEL_DEPLOY_SWEEP_SECONDS)
    unleased = Q(lease_until__isnull=True) & (~Q(status=S.QUEUED) | Q(started_at__lt=grace))
    return list(
        Deployment.objects.filter(status__in=ACTIVE_STATUSES)
        .filter(unleased | Q(lease_until__lt=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
