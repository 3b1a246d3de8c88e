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


def public_ca_max_validity(today: date) -> int:
    """The most days of validity a public CA may issue on ``today`` (398 before SC-081's first step)."""
    current = 398
    for since, days in PUBLIC_CA_MAX_VALIDITY:
        if today < since:
            return current
        current = days
    return current


def public_ca_next_step(today: date) -> tuple[date, int] | None:
    """The next SC-081 step after ``today`` (its date and maximum), or None once the last one is in force."""
    return next(((since, days) for since, days in PUBLIC_CA_MAX_VALIDITY if today < since), None)


def public_ca_validity_note(today: date) -> str:
    """The reminder shown next to a CSR: what public CAs may issue today, and the next step down if one is ahead.

    >>> public_ca_validity_note(date(2026, 12, 3))
    'Public CAs may now issue at most 200 days of validity (100 days from 2027-03-15).'
    """
    current, step = public_ca_max_validity(today), public_ca_next_step(today)
    if step is not None:
        return f"Public CAs may now issue at most {current} days of validity ({step[1]} days from {step[0]})."
    return f"Public CAs may now issue at most {current} days of validity."


def reissue_reminder(today: date, *, not_after: date) -> str:
    """The "re-issue at your CA" reminder for a certificate from a commercial CA that ends on ``not_after``.

    >>> reissue_reminder(date(2026, 12, 3), not_after=date(2026, 12, 31))[:56]
    'Ask your CA for its next certificate before 2026-12-31. '
    """
    if not_after < today:
        ask = "It has expired: ask your CA for a new certificate now."
    else:
        ask = f"Ask your CA for its next certificate before {not_after}."
    again = public_ca_max_validity(today)
    return f"{ask} {public_ca_validity_note(today)[:-1]}: expect to do this again in at most {again} days."
