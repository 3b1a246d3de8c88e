"""The schedule policy an admin sets on the settings page: when ACME certificates renew (the fraction of their
lifetime left), how often each listener is probed again, and from how many days before its end a certificate is
"expiring". Reads only; saving is repository/policy_actions.py's.

Stored on the PanelSettings row. What is not stored comes from the environment (CERTPANEL_VERIFY_SWEEP_SECONDS,
CERTPANEL_EXPIRING_DAYS) as before the page could change it, and a panel whose admin never chose renews at 1/3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from django.conf import settings

from repository.acme import schedule
from repository.models import PanelSettings


@dataclass(frozen=True)
class SchedulePolicy:
    fraction: Fraction
    verify_interval: timedelta
    expiring_days: int
    verify_interval_stored: bool  # False: CERTPANEL_VERIFY_SWEEP_SECONDS
    expiring_days_stored: bool  # False: CERTPANEL_EXPIRING_DAYS

    @property
    def expiring_limit(self) -> timedelta:
        return timedelta(days=self.expiring_days)

    def described(self) -> dict[str, str]:
        """Each setting in words, for the audit log ("probe interval '6 hours (default)' → '1 hour'")."""
        return {
            "renewal point": f"{self.fraction} of the lifetime left",
            "probe interval": hours_text(self.verify_interval) + ("" if self.verify_interval_stored else " (default)"),
            "expiring threshold": f"{self.expiring_days} days" + ("" if self.expiring_days_stored else " (default)"),
        }


def schedule_policy() -> SchedulePolicy:
    """The policy in force: one primary-key read, and no settings row created by reading."""
    row = (
        PanelSettings.objects.filter(pk=1)
        .values_list("renewal_fraction", "verify_interval_seconds", "expiring_days")
        .first()
    )
    stored_fraction, interval, days = row if row is not None else ("", None, None)
    return SchedulePolicy(
        fraction=fraction_of(stored_fraction),
        verify_interval=timedelta(seconds=interval or settings.CERTPANEL_VERIFY_SWEEP_SECONDS),
        expiring_days=days or settings.CERTPANEL_EXPIRING_DAYS,
        verify_interval_stored=interval is not None,
        expiring_days_stored=days is not None,
    )


def fraction_of(text: str) -> Fraction:
    """A stored renewal point ("1/3"); anything else (never written by the page) is the default."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return schedule.DEFAULT_FRACTION
    return value if value in schedule.FRACTIONS else schedule.DEFAULT_FRACTION


def hours_text(interval: timedelta) -> str:
    hours = interval.total_seconds() / 3600
    if hours == 1:
        return "1 hour"
    return f"{hours:g} hours" if hours >= 1 else f"{round(interval.total_seconds() / 60)} minutes"
