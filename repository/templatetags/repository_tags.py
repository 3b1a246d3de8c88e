"""Template filters of the repository pages: days left as an admin reads them."""

from __future__ import annotations

from datetime import datetime

from django import template

from repository.pki.dates import days_left as _days_left

register = template.Library()


@register.filter
def days_left(not_after: datetime | None) -> int | None:
    """Whole days until ``not_after`` (floor, as the expiry warnings count them); None for a pending CSR."""
    return _days_left(not_after)


@register.filter
def days_text(days: int | None) -> str:
    """``12 days``, ``expires today``, ``expired 3 days ago``; ``—`` when there is no expiry (pending CSR)."""
    if days is None:
        return "—"
    if days < 0:
        ago = -days
        return f"expired {ago} day{'s' if ago != 1 else ''} ago"
    if days == 0:
        return "expires today"
    return f"{days} day{'s' if days != 1 else ''}"
