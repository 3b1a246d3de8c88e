"""Celery tasks: thin. Load by id, call one action, retry on transient (network) errors.

acks_late everywhere: a task whose worker dies is delivered again, and the actions are
idempotent (order leases, stored order URLs, one active renewal per certificate).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from repository import renewals
from repository.acme_orders import OrderBusy, acme_order_process
from repository.acme_problems import AcmeError
from repository.errors import RepositoryError
from repository.models import AcmeOrder
from repository.sweep_watch import sweep_ran, sweep_stall_check

log = logging.getLogger(__name__)

MAX_RETRIES = 5


def _countdown(retries: int, hint: float | None) -> float:
    return max(hint or 0.0, min(5 * 2**retries, 300))


@shared_task(bind=True, acks_late=True, max_retries=None, name="repository.acme_order_process")
def acme_order_process_task(self: Any, order_id: int) -> str:
    try:
        return acme_order_process(order_id)
    except OrderBusy:
        raise self.retry(countdown=5, max_retries=60) from None
    except AcmeError as error:
        if self.request.retries >= MAX_RETRIES:
            from repository.acme_orders import acme_order_give_up

            acme_order_give_up(order_id, error)
            return "failed"
        log.info("order #%s: transient error, retrying: %s", order_id, error)
        raise self.retry(countdown=_countdown(self.request.retries, error.retry_after)) from None
    except AcmeOrder.DoesNotExist:
        return "gone"


@shared_task(acks_late=True, name="repository.certificate_renew")
def certificate_renew_task(certificate_id: int) -> int | None:
    try:
        order = renewals.certificate_renew(certificate_id)
    except RepositoryError as error:
        log.warning("certificate #%s: not renewed: %s", certificate_id, error)
        return None
    acme_order_process_task.delay(order.pk)
    return order.pk


@shared_task(acks_late=True, name="repository.certificate_ari_refresh")
def certificate_ari_refresh_task(certificate_id: int) -> None:
    renewals.certificate_ari_refresh(certificate_id)


@shared_task(name="repository.renewal_sweep")
def renewal_sweep_task() -> dict[str, int]:
    """One indexed query for what is due, one task each; plus ARI refreshes, resumes and warnings."""
    now = timezone.now()
    due = list(renewals.due_for_renewal(now).values_list("pk", flat=True))
    ari = list(renewals.due_for_ari(now).values_list("pk", flat=True))
    stale = list(renewals.stale_orders(now).values_list("pk", flat=True))
    queue_many(certificate_renew_task, due)
    queue_many(certificate_ari_refresh_task, ari)
    queue_many(acme_order_process_task, stale)
    warned = renewals.certificates_warn_expiring(now=now)
    sweep_ran(now=now)
    summary = {"renew": len(due), "ari": len(ari), "resumed": len(stale), "expiry_warnings": len(warned)}
    log.info("renewal sweep: %s", summary)
    return summary


@shared_task(name="repository.sweep_stall_check", ignore_result=True)
def sweep_stall_check_task() -> bool:
    """Queued by every worker's own timer (certpanel/worker_watch.py), so a dead beat is still reported."""
    return sweep_stall_check().stalled


def queue_many(task: Any, ids: list[int]) -> None:
    """One task per id over one producer (10,000 due entries must not mean 10,000 connects)."""
    if not ids:
        return
    with task.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
        # kombu pipelines the batch on Redis (one round trip per 1000); other brokers publish one by one.
        for pk in ids:
            task.apply_async((pk,), producer=producer)


def queue_order(order: AcmeOrder) -> None:
    """Queue processing once the order row is committed (a worker must be able to load it)."""
    transaction.on_commit(lambda: acme_order_process_task.delay(order.pk))
