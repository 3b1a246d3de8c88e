"""Celery tasks for services: thin, by id, acks_late (deployments and verifications are safe to run again)."""

from __future__ import annotations

import logging
from typing import Any

from celery import chain, shared_task
from django.contrib.auth.models import User
from django.utils import timezone

from certpanel.audit.actions import AuditAction, audit_record
from certpanel.dispatch import dispatch, dispatch_on_commit
from repository.policy import schedule_policy
from services import deployments, verification
from services.errors import DeploymentLeased, ListenerBusy
from services.models import Deployment, Listener

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 5
BUSY_RETRIES = 120  # ten minutes behind another deployment of the listener; the sweep takes over after that


@shared_task(bind=True, acks_late=True, max_retries=None, name="services.deployment_run")
def deployment_run_task(self: Any, deployment_id: int) -> str:
    try:
        return str(deployments.deployment_run(deployment_id).status)
    except DeploymentLeased:
        return "leased"  # its worker finishes it; if that worker dies, the sweep resumes it
    except ListenerBusy:
        raise self.retry(countdown=BUSY_RETRY_SECONDS, max_retries=BUSY_RETRIES) from None
    except Deployment.DoesNotExist:
        return "gone"


@shared_task(acks_late=True, name="services.verify_listeners")
def verify_listeners_task(listener_ids: list[int], trigger: str = "manual") -> int:
    """ "Verify all" from the page: the listeners probed concurrently, the results stored for the page."""
    listeners = list(Listener.objects.filter(pk__in=listener_ids).select_related("certificate"))
    verification.listeners_verify(listeners, trigger=trigger)
    return len(listeners)


@shared_task(acks_late=True, name="services.verify_sweep")
def verify_sweep_task() -> int:
    """Every few minutes: the listeners due under the admin's probe interval, probed concurrently; alerts once per
    incident. Old run records pruned when something ran (a sweep with nothing due costs two small reads)."""
    due = verification.listeners_verify_due(timezone.now(), interval=schedule_policy().verify_interval)
    if due:
        verification.listeners_verify(due, trigger="schedule")
        verification.verification_runs_prune()
    return len(due)


@shared_task(acks_late=True, name="services.deployment_sweep")
def deployment_sweep_task() -> dict[str, int]:
    """Every minute or so: deployments nobody drives, and verifications nobody ran, queued again."""
    now = timezone.now()
    resumed = deployments.deployments_to_resume(now)
    for deployment_id in resumed:
        dispatch(deployment_run_task, deployment_id)
    stale = verification.listeners_verify_stale(now)
    if stale:
        dispatch(verify_listeners_task, stale, trigger="deployment sweep")
    if resumed or stale:
        log.info(
            "deployment sweep: %s deployment(s) resumed, %s verification(s) queued again", len(resumed), len(stale)
        )
    return {"deployments": len(resumed), "verifications": len(stale)}


def queue_deployments(listener_ids: list[int], *, trigger: str, user: User | None = None) -> list[Deployment]:
    """A queued deployment row each, now (in the caller's transaction); the tasks once it commits."""
    listeners = Listener.objects.select_related("certificate").filter(pk__in=listener_ids).order_by("pk")
    requested = [deployments.deployment_request(listener, trigger=trigger, user=user) for listener in listeners]
    for deployment in requested:
        dispatch_on_commit(deployment_run_task, deployment.pk)
    return requested


def queue_verification(listener_ids: list[int], *, trigger: str = "manual", user: User | None = None) -> int:
    """Mark the listeners "verification queued" and queue one task that probes them all concurrently."""
    marked = verification.listeners_mark_queued(listener_ids)
    listeners = list(Listener.objects.filter(pk__in=listener_ids).order_by("pk"))
    if len(listeners) == 1:
        audit_record(action=AuditAction.VERIFY_REQUEST, actor=user, target=listeners[0])
    elif listeners:
        names = ", ".join(listener.name for listener in listeners)
        audit_record(action=AuditAction.VERIFY_REQUEST, actor=user, detail=f"{len(listeners)} listeners: {names}")
    if listener_ids:
        dispatch_on_commit(verify_listeners_task, listener_ids, trigger=trigger)
    return marked


def queue_deployments_then_verify(
    listener_ids: list[int], *, trigger: str, user: User | None = None
) -> list[Deployment]:
    """A queued deployment each and, once it has ended, a verification of its listener (one chain per listener,
    sent once the caller's transaction commits). The listeners show "verification queued" until it reports;
    if the broker is down, the sweep takes up both the deployments and the verifications."""
    listeners = Listener.objects.select_related("certificate").filter(pk__in=listener_ids).order_by("pk")
    requested = [deployments.deployment_request(listener, trigger=trigger, user=user) for listener in listeners]
    verification.listeners_mark_queued([deployment.listener_id for deployment in requested])
    for deployment in requested:
        followed = chain(deployment_run_task.si(deployment.pk), verify_listeners_task.si([deployment.listener_id]))
        dispatch_on_commit(followed)
    return requested
