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

from certpanel.dispatch import broker_outage_clear, dispatch
from repository import chain_fetches
from repository.acme import registrations
from repository.acme.orders import (
    acme_order_give_up,
    acme_order_process,
    acme_order_retry_later,
    acme_order_undispatched,
    acme_orders_dispatched,
    acme_orders_to_resume,
    certificate_renew,
)
from repository.acme.problems import AcmeError
from repository.acme.renewals import certificate_ari_refresh
from repository.acme.selectors import due_for_ari, due_for_renewal, renewal_due
from repository.acme.sweep_runs import sweep_run_finish, sweep_run_start, sweep_runs_prune
from repository.acme.sweep_watch import sweep_ran, sweep_stall_check
from repository.dns.records import dns_records_sweep
from repository.errors import OrderBusy, RepositoryError
from repository.expiry import certificates_warn_expiring
from repository.models import AcmeOrder

log = logging.getLogger(__name__)

MAX_RETRIES = 5


# Rejected nonces come in bursts that pass in moments; everything else backs off 5 s, 10 s, 20 s … 5 min.
QUICK_RETRY_CODES = {"badNonce": 1.0}


def _countdown(retries: int, error: AcmeError) -> float:
    if error.code in QUICK_RETRY_CODES:
        return QUICK_RETRY_CODES[error.code]
    backoff: float = min(5 * 2**retries, 300)
    return max(error.retry_after or 0.0, backoff)


@shared_task(bind=True, acks_late=True, max_retries=None, name="repository.acme_order_process")
def acme_order_process_task(self: Any, order_id: int) -> str:
    try:
        return acme_order_process(order_id)
    except OrderBusy:
        raise self.retry(countdown=5, max_retries=60) from None
    except AcmeError as error:
        if self.request.retries >= MAX_RETRIES:
            acme_order_give_up(order_id, error)
            return "failed"
        countdown = _countdown(self.request.retries, error)
        log.info("order #%s: transient error, retrying in %.0f s: %s", order_id, countdown, error)
        acme_order_retry_later(order_id, seconds=countdown)
        raise self.retry(countdown=countdown) from None
    except AcmeOrder.DoesNotExist:
        return "gone"


# Bounded: a registration asks a directory an admin typed (a few requests of CERTPANEL_ACME_TIMEOUT each); an AIA
# fetch follows at most 4 hops of CERTPANEL_AIA_TIMEOUT. A row left queued by a killed task is resumed by the sweep.
@shared_task(acks_late=True, time_limit=600, name=registrations.TASK)
def acme_account_register_task(registration_id: int) -> str:
    return registrations.acme_registration_run(registration_id)


@shared_task(acks_late=True, time_limit=240, name=chain_fetches.TASK)
def certificate_chain_fetch_task(certificate_id: int) -> str:
    return chain_fetches.certificate_chain_fetch(certificate_id)


@shared_task(acks_late=True, name="repository.certificate_renew")
def certificate_renew_task(certificate_id: int) -> int | None:
    return _renew(certificate_id)


def _renew(certificate_id: int) -> int | None:
    try:
        order = certificate_renew(certificate_id)
    except RepositoryError as error:
        log.warning("certificate #%s: not renewed: %s", certificate_id, error)
        return None
    queue_order(order.pk)
    return order.pk


@shared_task(acks_late=True, name="repository.certificate_ari_refresh")
def certificate_ari_refresh_task(certificate_id: int) -> int | None:
    """The window, then the renewal if it is due now: a window the CA moved into the past (a mass revocation)
    renews in the sweep that saw it, not one sweep interval later."""
    certificate_ari_refresh(certificate_id)
    return _renew(certificate_id) if renewal_due(certificate_id, timezone.now()) else None


@shared_task(name="repository.renewal_sweep")
def renewal_sweep_task() -> dict[str, int]:
    """One indexed query for what is due, one task each; plus ARI refreshes, expiry warnings, and the DNS-01 records
    no order needs any more.

    Orders are resumed by the frequent order_resume_sweep, not here."""
    now = timezone.now()
    run = sweep_run_start()
    try:
        due = list(due_for_renewal(now).values_list("pk", flat=True))
        ari = list(due_for_ari(now).values_list("pk", flat=True))
        queue_many(certificate_renew_task, due)
        queue_many(certificate_ari_refresh_task, ari)
        warned = certificates_warn_expiring(now=now)
        dns = dns_records_sweep(now)  # DNS-01 records of ended orders (their own cleanup failed, or never ran)
    except Exception as error:
        sweep_run_finish(run, error=str(error) or type(error).__name__)
        raise
    sweep_ran(now=now)
    summary = {
        "renew": len(due),
        "ari": len(ari),
        "expiry_warnings": len(warned),
        "dns_records_removed": dns.removed,
        "dns_records_left": len(dns.failed),
    }
    sweep_run_finish(run, summary=summary)
    sweep_runs_prune(now=now)
    log.info("renewal sweep: %s", summary)
    return summary


@shared_task(name="repository.order_resume_sweep", ignore_result=True)
def order_resume_sweep_task() -> int:
    """Every CERTPANEL_ORDER_RESUME_SECONDS: hand over the orders no worker has (one query over active rows), and
    the account registrations and chain fetches no worker has (stored while the broker was down, or left by a
    worker that died).

    Cheap enough to run every few seconds; this is what sends the orders stored while the broker was down,
    and resumes the order of a worker that died, once its lease runs out. A duplicate hand-over is harmless:
    the lease lets one worker drive an order, and a finished order is skipped.
    """
    broker_outage_clear()  # this task came through the broker: it is back
    now = timezone.now()
    ids = acme_orders_to_resume(now)
    queue_many(acme_order_process_task, ids)
    acme_orders_dispatched(ids, now=now)
    queue_many(acme_account_register_task, registrations.acme_registrations_resume(now))
    queue_many(certificate_chain_fetch_task, chain_fetches.chain_fetches_resume(now))
    if ids:
        log.info("resumed %d order(s): %s", len(ids), ids)
    return len(ids)


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


def queue_order(order_id: int) -> bool:
    """Hand a committed order to a worker. False when the broker is down: the order is then stored as waiting
    for the work queue and the resume sweep sends it once the broker is back, so the caller must not ask the
    admin to repeat anything. Inside a transaction the hand-over waits for the commit (a worker must be able
    to load the row), and True is returned: a failure then is still stored for the sweep.
    """
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _hand_over(order_id))
        return True
    return _hand_over(order_id)


def _hand_over(order_id: int) -> bool:
    if dispatch(acme_order_process_task, order_id):
        acme_orders_dispatched([order_id], now=timezone.now())
        return True
    acme_order_undispatched(order_id)
    return False
