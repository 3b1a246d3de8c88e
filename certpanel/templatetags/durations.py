"""How long things took and how long ago they happened, as an admin reads them.

``duration_short``: a job's duration (850 ms, 12 s, 3 min 5 s, 2 h 10 min). ``ago``: a past moment relative to now
("just now", "5 minutes ago", "2 hours, 3 minutes ago"). Django's ``timesince`` says "0 minutes" under a minute, and
humanize's ``naturaltime`` counts seconds there and drops the second unit after an hour: neither reads as wanted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def duration_short(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = max(value.total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "just now" under a minute (and for a moment a little ahead of this host's clock), else timesince's two
    largest units and "ago"."""
    if value is None:
        return ""
    now = now or timezone.now()
    if (now - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value, now)} ago"
