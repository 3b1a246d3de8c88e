from celery import shared_task
from celery.signals import worker_ready

from certpanel.dispatch import broker_outage_clear
from certpanel.heartbeat import WORKER, heartbeat_record


@shared_task(name="certpanel.tasks.heartbeat", ignore_result=True)
def heartbeat(name: str = WORKER) -> None:
    heartbeat_record(name=name)
    broker_outage_clear()  # this task came through the broker: it is back


@worker_ready.connect
def _worker_ready(sender: object = None, **_: object) -> None:
    # A fresh worker reports at once, and sweeps once, instead of waiting for beat's first interval.
    heartbeat_record()
    from repository.tasks import order_resume_sweep_task, renewal_sweep_task

    renewal_sweep_task.delay()
    order_resume_sweep_task.delay()
