"""Celery app configured from the CELERY_* Django settings (via certpanel/celery_config.py)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certpanel.settings")

app = Celery("certpanel")
app.config_from_object("certpanel.celery_config")
app.autodiscover_tasks()
