from typing import Any

from celery import current_app, shared_task
from celery.signals import worker_ready
from django.conf import settings

from certpanel import notifications
from certpanel.dispatch import broker_outage_clear, dispatch
from certpanel.heartbeat import WORKER, heartbeat_record


@shared_task(name="certpanel.tasks.heartbeat", ignore_result=True)
def heartbeat(name: str = WORKER) -> None:
    heartbeat_record(name=name)
    broker_outage_clear()  # this task came through the broker: it is back


@shared_task(
    bind=True,
    acks_late=True,
    max_retries=None,
    name=notifications.DELIVER_TASK,
    # Killed before its lease ends, so a slow SMTP server never lets a second sender in meanwhile.
    time_limit=notifications.lease_time_limit(settings.CERTPANEL_NOTIFY_LEASE_SECONDS),
)
def notification_deliver_task(self: Any, notification_id: int) -> str:
    attempt = notifications.notification_deliver(notification_id)
    if attempt.retry_in is not None:
        # The row already holds the next try; this only keeps to the backoff when beat is down.
        raise self.retry(countdown=attempt.retry_in)
    return attempt.status


@shared_task(name="certpanel.notifications_deliver_due", ignore_result=True)
def notifications_deliver_due_task() -> int:
    """Beat's backstop: sends again what a dead worker, a broker outage or a failed attempt left behind."""
    due = notifications.notifications_due()
    for notification_id in due:
        if not dispatch(notification_deliver_task, notification_id):
            break  # the broker is down: the next run tries again
    notifications.notifications_prune()
    return len(due)


# Sent by name: certpanel sits below repository and services and imports neither.
SWEEPS_AT_START = ("repository.renewal_sweep", "repository.order_resume_sweep", "services.deployment_sweep")


@worker_ready.connect
def _worker_ready(sender: object = None, **_: object) -> None:
    # A fresh worker reports at once, and sweeps once, instead of waiting for beat's first interval: what a
    # dead worker left behind (orders, deployments, emails) is taken up as soon as its lease allows.
    heartbeat_record()
    for name in SWEEPS_AT_START:
        current_app.send_task(name)
    notifications_deliver_due_task.delay()
