"""Celery app configured from Django settings (CELERY_ namespace), paperless-ngx style."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certpanel.settings")

app = Celery("certpanel")
app.config_from_object("certpanel.celery_config")
app.autodiscover_tasks()
