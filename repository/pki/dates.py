"""Time as the panel counts it for certificates: now in UTC, whole days left, a date in UTC for an admin.

Only the stdlib: no Django. ``as_utc`` takes a naive datetime as UTC (pure callers pass on what they were given);
``days_left`` and ``utc_text`` refuse one, so a local time cannot pass for UTC unnoticed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def as_utc(now: datetime | None) -> datetime:
    """Current time, or ``now`` made timezone-aware (naive values are taken as UTC)."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def require_aware(value: datetime, what: str) -> datetime:
    """``value`` itself; ValueError naming ``what`` when it carries no timezone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware.")
    return value


def days_left(not_after: datetime | None, *, now: datetime | None = None) -> int | None:
    """Whole days until ``not_after`` (floor): 0 within the last day, negative once expired; None if unknown."""
    if not_after is None:
        return None
    until = require_aware(not_after, "not_after")
    return (until - (as_utc(None) if now is None else require_aware(now, "now"))) // timedelta(days=1)


def utc_text(value: datetime) -> str:
    """``2025-06-01 12:00 UTC``: what an admin reads matches the logs and ``openssl``, whatever TIME_ZONE is."""
    return require_aware(value, "A date").astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
