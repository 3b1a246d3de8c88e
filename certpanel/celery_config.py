"""Celery's configuration: a snapshot of the CELERY_* Django settings under Celery's own names.

A plain module instead of `config_from_object("django.conf:settings", namespace="CELERY")`:
Celery reads several keys per message sent, and going through Django's lazy settings with
namespace fallbacks cost more than Redis itself when the sweep queues thousands of tasks.
Loaded lazily by Celery, after Django's settings are configured.
"""

from django.conf import settings as _settings

globals().update(
    {
        name.removeprefix("CELERY_").lower(): getattr(_settings, name)
        for name in dir(_settings)
        if name.startswith("CELERY_")
    }
)
