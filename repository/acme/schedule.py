"""When to renew: pure arithmetic on a certificate's lifetime or the CA's ARI window (no Django).

Nothing here knows "90 days": 90-, 45- and 6-day certificates all renew at a fraction of their
own lifetime, which is what keeps short-lived certificates safe when a renewal fails and retries. The fraction is
the admin's (the settings page: 1/3 by default, 1/2 or 1/4), passed in by the caller; under ten days of lifetime
it is never less than 1/2, whatever was chosen, so a 6-day certificate keeps days to retry in.

The renewal window also decides, for every certificate whatever its source, when its "expiring" badge starts
(``expiring_from``, read by repository/actions.py) and when an expiry warning means renewal is broken
(``renewal_overdue``, read by repository/expiry.py): one window, so it lives here once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

# The renewal points an admin may choose: the fraction of its lifetime a certificate has left when it renews.
DEFAULT_FRACTION = Fraction(1, 3)
FRACTIONS = (Fraction(1, 2), Fraction(1, 3), Fraction(1, 4))
SHORT_LIFETIME = timedelta(days=10)
SHORT_FRACTION = Fraction(1, 2)
JITTER_FRACTION = 0.02
MAX_JITTER = timedelta(hours=4)
BACKOFF = (timedelta(minutes=1), timedelta(minutes=10), timedelta(minutes=100))
DAILY = timedelta(days=1)
ARI_REFRESH = timedelta(hours=12)


@dataclass(frozen=True)
class RenewalPlan:
    renew_at: datetime
    rule: str


def lifetime_plan(
    not_before: datetime, not_after: datetime, *, fraction: Fraction, rng: random.Random | None = None
) -> RenewalPlan:
    """Renew when ``fraction`` of the lifetime remains (at least 1/2 under 10 days), a little earlier by random
    jitter.

    Jitter spreads a fleet's renewals so they do not all hit the CA in the same minute.
    """
    lifetime = not_after - not_before
    share = window_fraction(lifetime, fraction)
    jitter = min(lifetime * JITTER_FRACTION, MAX_JITTER) * (rng or random).random()
    renew_at = not_after - renewal_window(lifetime, fraction=fraction) - jitter
    return RenewalPlan(renew_at, lifetime_rule(share, lifetime))


def lifetime_rule(share: Fraction, lifetime: timedelta) -> str:
    """The rule as the certificate's page shows it ("lifetime: renew with 1/3 of 90 days left")."""
    return f"lifetime: renew with {share} of {_human(lifetime)} left"


def window_fraction(lifetime: timedelta, fraction: Fraction) -> Fraction:
    """The share of its lifetime a certificate has left at renewal: the admin's, or 1/2 under ten days."""
    return max(fraction, SHORT_FRACTION) if lifetime < SHORT_LIFETIME else fraction


def renewal_window(lifetime: timedelta, *, fraction: Fraction) -> timedelta:
    """How much of its lifetime a certificate has left when renewal is due: ``fraction``, or 1/2 under ten days."""
    share = window_fraction(lifetime, fraction)
    return lifetime * share.numerator / share.denominator


def lifetime_window(not_before: datetime, not_after: datetime, *, fraction: Fraction) -> tuple[datetime, datetime]:
    """Where the lifetime rule's renewal time falls: from the earliest jittered pick to expiry."""
    lifetime = not_after - not_before
    earliest = not_after - renewal_window(lifetime, fraction=fraction) - min(lifetime * JITTER_FRACTION, MAX_JITTER)
    return earliest, not_after


def expiring_from(not_before: datetime, not_after: datetime, *, limit: timedelta, fraction: Fraction) -> datetime:
    """When the "expiring" badge starts: ``limit`` before the end, or the renewal window when that is shorter.

    A 6-day certificate is not "expiring" for its whole life because the fixed threshold is 30 days;
    it is when renewal is due and has not yet replaced it.
    """
    return not_after - min(limit, renewal_window(not_after - not_before, fraction=fraction))


def ari_plan(start: datetime, end: datetime, *, now: datetime, rng: random.Random | None = None) -> RenewalPlan:
    """RFC 9773 §4.2: a uniformly random time inside the CA's suggested window; a time already past means now.

    A window that is over (a CA that revokes en masse moves it into the past) renews now, not at a random time
    the panel would only have to round up to now anyway: the rule says so, so the page does not claim a past pick.
    """
    span = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    if end <= now:
        return RenewalPlan(now, f"ARI window {span} is over: renew now")
    pick = start + (end - start) * (rng or random).random()
    return RenewalPlan(max(pick, now), f"ARI window {span}")


def retry_delay(failures: int) -> timedelta:
    """After the n-th failure in a row: 1 min, 10 min, 100 min, then daily."""
    if failures <= 0:
        return BACKOFF[0]
    return BACKOFF[failures - 1] if failures <= len(BACKOFF) else DAILY


def next_attempt(failures: int, now: datetime, not_after: datetime | None) -> datetime:
    """Never wait past expiry: a daily retry shrinks so the last tries land before the end."""
    candidate = now + retry_delay(failures)
    if not_after is not None and not_after > now and candidate > not_after:
        return now + (not_after - now) / 2
    return candidate


def _human(delta: timedelta) -> str:
    # Rounded: CAs end validity a second before the round figure (6 days is 518399 s at Pebble).
    seconds = delta.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{round(seconds / size)} {unit}"
    return f"{round(seconds)} seconds"


def renewal_overdue(not_before: datetime, not_after: datetime, *, now: datetime, fraction: Fraction) -> bool:
    """Renewal is broken when half of the time that was left at the renewal point has gone by too.

    At 1/3, 90-day certificates renew with 30 days left: overdue with 15 left. 6-day ones renew with 3 days left:
    overdue with 1.5 left. Retries and backoff fit comfortably inside that half; a failure that lasts past it
    is worth a warning even though the certificate renews itself.
    """
    return now >= not_after - renewal_window(not_after - not_before, fraction=fraction) / 2
