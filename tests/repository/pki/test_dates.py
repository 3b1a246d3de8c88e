"""Tests for repository.pki.dates: now in UTC, whole days left, dates in UTC for an admin.

The days-left cases were written for the emails (tests/repository/test_emails.py) and the probes
(tests/services/test_probes.py); both now count with this one function.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from repository.pki.dates import as_utc, days_left, public_ca_validity_note, require_aware, utc_text
from tests.support.factories import ec_key, make_ca

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("not_after", "expected"),
    [
        (NOW + timedelta(days=12, hours=23), 12),
        (NOW + timedelta(days=1), 1),
        (NOW + timedelta(hours=23), 0),
        (NOW, 0),
        (NOW - timedelta(seconds=1), -1),
        (NOW - timedelta(days=3), -3),
        (NOW - timedelta(days=3, hours=1), -4),
        (None, None),
    ],
)
def test_days_left_floors_remaining_days_and_is_negative_once_expired(
    not_after: datetime | None, expected: int | None
) -> None:
    assert days_left(not_after, now=NOW) == expected


def test_days_left_handles_other_timezones_and_rejects_naive_datetimes() -> None:
    berlin = datetime(2025, 6, 3, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 12:00 UTC
    assert days_left(berlin, now=NOW) == 2
    with pytest.raises(ValueError, match="timezone-aware"):
        days_left(datetime(2025, 6, 3), now=NOW)


def test_days_left_defaults_to_the_current_time() -> None:
    assert days_left(datetime.now(UTC) + timedelta(days=5, hours=1)) == 5


def test_days_left_of_a_certificate() -> None:
    leaf = make_ca("Probe").issue(ec_key().public_key(), ["mail.example.com"])
    not_after = leaf.not_valid_after_utc
    assert days_left(not_after, now=not_after - timedelta(days=10, hours=1)) == 10
    assert days_left(not_after, now=not_after - timedelta(hours=1)) == 0
    assert days_left(not_after, now=not_after + timedelta(hours=1)) == -1


def test_days_left_names_the_naive_value() -> None:
    with pytest.raises(ValueError, match=r"^not_after must be timezone-aware\.$"):
        days_left(datetime(2025, 6, 3), now=datetime(2025, 6, 1))
    with pytest.raises(ValueError, match=r"^now must be timezone-aware\.$"):
        days_left(NOW, now=datetime(2025, 6, 1))


def test_as_utc_takes_naive_values_as_utc_and_keeps_aware_ones() -> None:
    assert as_utc(datetime(2025, 6, 1, 12, 0)) == NOW
    berlin = datetime(2025, 6, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert as_utc(berlin) is berlin
    assert abs(as_utc(None) - datetime.now(UTC)) < timedelta(seconds=5)


def test_utc_text_shows_any_timezone_in_utc_and_refuses_naive_dates() -> None:
    assert utc_text(datetime(2025, 6, 1, 14, 30, tzinfo=ZoneInfo("Europe/Berlin"))) == "2025-06-01 12:30 UTC"
    with pytest.raises(ValueError, match=r"^A date must be timezone-aware\.$"):
        utc_text(datetime(2025, 6, 1))
    with pytest.raises(ValueError, match=r"^last_sweep must be timezone-aware\.$"):
        require_aware(datetime(2025, 6, 1), "last_sweep")


@pytest.mark.parametrize(
    ("today", "note"),
    [
        (date(2026, 12, 3), "Public CAs may now issue at most 200 days of validity (100 days from 2027-03-15)."),
        (date(2027, 3, 14), "Public CAs may now issue at most 200 days of validity (100 days from 2027-03-15)."),
        (date(2027, 3, 15), "Public CAs may now issue at most 100 days of validity (47 days from 2029-03-15)."),
        (date(2029, 3, 15), "Public CAs may now issue at most 47 days of validity."),
    ],
)
def test_public_ca_validity_note_follows_the_date(today: date, note: str) -> None:
    assert public_ca_validity_note(today) == note
