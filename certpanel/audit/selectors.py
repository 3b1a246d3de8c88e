"""Reads of the audit log: the filtered events, newest first, and which of their targets still exist."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.apps import apps
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from certpanel.models import AuditEvent

# Where a target is shown, when it still exists: target_type → URL name taking its id.
TARGET_URLS = {
    "repository.certificate": "repository:detail",
    "repository.acmeorder": "repository:order",
    "services.listener": "services:detail",
}


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))  # the panel's time zone (CERTPANEL_TIME_ZONE)


def audit_events(
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if actor:
        events = events.filter(actor_name__icontains=actor)
    if action:
        events = events.filter(action=action)
    if target:
        match = Q(target_label__icontains=target)
        if target.lstrip("#").isdigit():
            match |= Q(target_id=target.lstrip("#"))
        events = events.filter(match)
    if date_from:
        events = events.filter(at__gte=_day_start(date_from))
    if date_to:
        events = events.filter(at__lt=_day_start(date_to + timedelta(days=1)))
    return events.order_by("-at", "-id")


def target_links(events: Iterable[AuditEvent]) -> dict[int, str]:
    """Event id → URL of its target, for the targets that still exist (one query per target type)."""
    wanted: dict[str, set[str]] = defaultdict(set)
    rows = [event for event in events if event.target_type in TARGET_URLS and event.target_id.isdigit()]
    for event in rows:
        wanted[event.target_type].add(event.target_id)
    existing = {
        label: {str(pk) for pk in apps.get_model(label).objects.filter(pk__in=ids).values_list("pk", flat=True)}
        for label, ids in wanted.items()
    }
    return {
        event.pk: reverse(TARGET_URLS[event.target_type], args=[int(event.target_id)])
        for event in rows
        if event.target_id in existing[event.target_type]
    }
