"""Time as the panel counts it for certificates: now in UTC, whole days left, a date in UTC for an admin.

Only the stdlib: no Django. ``as_utc`` takes a naive datetime as UTC (pure callers pass on what they were given);
``days_left`` and ``utc_text`` refuse one, so a local time cannot pass for UTC unnoticed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


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


# CA/Browser Forum ballot SC-081: the longest validity a publicly trusted TLS certificate may have, by issue date.
PUBLIC_CA_MAX_VALIDITY: tuple[tuple[date, int], ...] = (
    (date(2026, 3, 15), 200),
    (date(2027, 3, 15), 100),
    (date(2029, 3, 15), 47),
)


def public_ca_validity_note(today: date) -> str:
    """The reminder shown next to a CSR: what public CAs may issue today, and the next step down if one is ahead.

    >>> public_ca_validity_note(date(2026, 12, 3))
    'Public CAs may now issue at most 200 days of validity (100 days from 2027-03-15).'
    """
    current = 398  # before the first step
    for since, days in PUBLIC_CA_MAX_VALIDITY:
        if today < since:
            return f"Public CAs may now issue at most {current} days of validity ({days} days from {since})."
        current = days
    return f"Public CAs may now issue at most {current} days of validity."
