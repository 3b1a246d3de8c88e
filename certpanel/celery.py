"""Celery app configured from the CELERY_* Django settings (via certpanel/celery_config.py).

Every task is a PanelTask: transient database errors are retried with backoff (certpanel/task_base.py).
"""

import os

from celery import Celery

from certpanel.worker_watch import SweepWatch

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certpanel.settings")

app = Celery("certpanel", task_cls="certpanel.task_base:PanelTask")
app.config_from_object("certpanel.celery_config")
app.steps["worker"].add(SweepWatch)
app.autodiscover_tasks()
