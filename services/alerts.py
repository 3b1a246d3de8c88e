"""Alert emails for listeners: one per incident, a recovery email after."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from repository import emails
from services.models import Listener
from services.probes.report import ProbeResult

EXPIRING_DAYS = 14


def problems_of(results: list[ProbeResult]) -> list[str]:
    problems = []
    for result in results:
        if not result.ok:
            problems.append(f"{result.server_name}: {result.error or 'not ok'}")
        elif result.days_left is not None and result.days_left < EXPIRING_DAYS:
            problems.append(f"{result.server_name}: the served certificate expires in {result.days_left} days")
    return problems


def listener_alert_update(listener: Listener, results: list[ProbeResult], extra: list[str] | None = None) -> None:
    """The flag and the email commit together: the incident counts as notified once its email is queued."""
    problems = [*(extra or []), *problems_of(results)]
    address = f"{listener.host}:{listener.port}"
    url = f"{settings.CERTPANEL_BASE_URL}/services/"
    with transaction.atomic():
        if problems and Listener.objects.filter(pk=listener.pk, alert_notified=False).update(alert_notified=True):
            emails.queue_service_alert(
                to=emails.notify_to(), listener=listener.name, address=address, problems=problems, url=url
            )
        elif not problems and Listener.objects.filter(pk=listener.pk, alert_notified=True).update(alert_notified=False):
            emails.queue_service_recovered(to=emails.notify_to(), listener=listener.name, address=address, url=url)
