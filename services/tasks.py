"""Celery tasks for services: thin, by id."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from services import actions
from services.models import Listener


@shared_task(acks_late=True, name="services.listener_deploy")
def listener_deploy_task(listener_id: int, trigger: str = "manual") -> str:
    try:
        return str(actions.listener_deploy(listener_id, trigger=trigger).status)
    except Listener.DoesNotExist:
        return "gone"


@shared_task(name="services.verify_sweep")
def verify_sweep_task() -> int:
    """Every listener with a certificate, probed; alerts once per incident."""
    listeners = list(Listener.objects.exclude(certificate=None).select_related("certificate"))
    for listener in listeners:
        actions.listener_verify(listener)
    return len(listeners)


def queue_deployments(listener_ids: list[int], *, trigger: str) -> None:
    """Queued once the caller's transaction commits, so the worker sees what was just assigned."""
    for listener_id in listener_ids:
        transaction.on_commit(lambda pk=listener_id: listener_deploy_task.delay(pk, trigger))
