"""Retrying a failed job from the Jobs page: each kind's own action, in one transaction; the work is queued
once it commits."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from certpanel.errors import PanelError
from certpanel.notifications import notification_resend
from repository.acme.orders import acme_order_retry
from repository.tasks import queue_order
from services.actions import deployment_retry, verification_run_retry


class NotRetryable(PanelError):
    """The job cannot be retried (it did not fail, or its kind has no retry)."""


def job_retry(kind: str, pk: int, *, user: User | None) -> str:
    """Retry a failed job; what was done, in words. NotRetryable (or the kind's own error) when it cannot be."""
    with transaction.atomic():
        if kind == "order":
            order = acme_order_retry(pk, user=user)
            queue_order(order.pk)  # inside the transaction: handed over once it commits
            return f"Order #{order.pk} requested again for {', '.join(order.hostnames)}."
        if kind == "deployment":
            deployment = deployment_retry(pk, user=user)
            return f"Deployment #{deployment.pk} of {deployment.listener.name} queued."
        if kind == "email":
            if not notification_resend(pk):
                raise NotRetryable(f"Email #{pk} is not waiting to be sent (delivered already, or gone).")
            return f"Email #{pk} handed to the worker again."
        if kind == "verification":
            count = verification_run_retry(pk, user=user)
            return f"Verification of {count} listener{'s' if count != 1 else ''} queued."
    raise NotRetryable(f"A {kind} cannot be retried from here.")
