"""acme/schedule.py: when to renew, pure arithmetic (no database)."""

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from django.utils import timezone

from repository.acme import schedule

T0 = datetime(2026, 1, 1, tzinfo=UTC)


THIRD, HALF, QUARTER = Fraction(1, 3), Fraction(1, 2), Fraction(1, 4)


@pytest.mark.parametrize(
    ("fraction", "lifetime", "fraction_left"),
    [
        (THIRD, timedelta(days=90), THIRD),
        (THIRD, timedelta(days=45), THIRD),
        (THIRD, timedelta(days=6), HALF),
        (THIRD, timedelta(seconds=60), HALF),
        (HALF, timedelta(days=90), HALF),
        (HALF, timedelta(days=45), HALF),
        (HALF, timedelta(days=6), HALF),
        (QUARTER, timedelta(days=90), QUARTER),
        (QUARTER, timedelta(days=45), QUARTER),
        (QUARTER, timedelta(days=6), HALF),  # the short-lifetime rule holds whatever the admin chose
        (QUARTER, timedelta(days=10), QUARTER),  # ten days is no longer short
    ],
)
def test_lifetime_rule_renews_at_the_chosen_fraction_and_half_under_ten_days(
    fraction: Fraction, lifetime: timedelta, fraction_left: Fraction
) -> None:
    plan = schedule.lifetime_plan(T0, T0 + lifetime, fraction=fraction, rng=random.Random(0))
    left = (T0 + lifetime) - plan.renew_at
    jitter = min(lifetime * schedule.JITTER_FRACTION, schedule.MAX_JITTER)
    exact = lifetime * fraction_left.numerator / fraction_left.denominator
    assert exact <= left <= exact + jitter
    assert f"renew with {fraction_left} of" in plan.rule


@pytest.mark.parametrize(
    ("fraction", "days_left_90", "days_left_45", "days_left_6"),
    [(THIRD, 30, 15, 3), (HALF, 45, 22.5, 3), (QUARTER, 22.5, 11.25, 3)],
)
def test_renewal_window_of_90_45_and_6_day_certificates(
    fraction: Fraction, days_left_90: float, days_left_45: float, days_left_6: float
) -> None:
    def window(days: int) -> timedelta:
        return schedule.renewal_window(timedelta(days=days), fraction=fraction)

    assert (window(90), window(45), window(6)) == (
        timedelta(days=days_left_90),
        timedelta(days=days_left_45),
        timedelta(days=days_left_6),
    )


def test_lifetime_jitter_spreads_renewals_without_exceeding_its_bound() -> None:
    times = {
        schedule.lifetime_plan(T0, T0 + timedelta(days=90), fraction=THIRD, rng=random.Random(seed)).renew_at
        for seed in range(20)
    }
    assert len(times) == 20
    assert max(times) - min(times) <= schedule.MAX_JITTER


def test_ari_picks_inside_the_window() -> None:
    start, end = T0 + timedelta(days=60), T0 + timedelta(days=62)
    picks = [schedule.ari_plan(start, end, now=T0, rng=random.Random(seed)).renew_at for seed in range(50)]
    assert all(start <= pick <= end for pick in picks)
    assert len(set(picks)) > 40


def test_a_window_moved_into_the_past_renews_now_whatever_the_random_pick() -> None:
    now = T0 + timedelta(days=30)
    start, end = now - timedelta(days=2), now - timedelta(days=1)
    for seed in range(10):
        plan = schedule.ari_plan(start, end, now=now, rng=random.Random(seed))
        assert plan.renew_at == now and "is over: renew now" in plan.rule


def test_a_pick_already_past_in_an_open_window_is_now() -> None:
    now = T0 + timedelta(days=30)
    start, end = now - timedelta(days=1), now + timedelta(days=1)
    picks = [schedule.ari_plan(start, end, now=now, rng=random.Random(seed)).renew_at for seed in range(50)]
    assert all(now <= pick <= end for pick in picks) and picks.count(now) > 10


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=10)),
        (3, timedelta(minutes=100)),
        (4, timedelta(days=1)),
        (9, timedelta(days=1)),
    ],
)
def test_backoff_is_1_10_100_minutes_then_daily(failures: int, delay: timedelta) -> None:
    assert schedule.retry_delay(failures) == delay


def test_next_attempt_never_waits_past_expiry() -> None:
    expires = T0 + timedelta(hours=6)
    assert schedule.next_attempt(5, T0, expires) == T0 + timedelta(hours=3)
    assert schedule.next_attempt(1, T0, expires) == T0 + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("fraction", "lifetime", "left_when_expiring"),
    [
        (THIRD, timedelta(days=365), timedelta(days=30)),  # the fixed threshold is shorter than a third
        (THIRD, timedelta(days=90), timedelta(days=30)),
        (THIRD, timedelta(days=45), timedelta(days=15)),  # a third of the lifetime, as renewal
        (THIRD, timedelta(days=6), timedelta(days=3)),  # half, under ten days
        (HALF, timedelta(days=90), timedelta(days=30)),  # the threshold is the shorter
        (HALF, timedelta(days=45), timedelta(days=22.5)),
        (QUARTER, timedelta(days=90), timedelta(days=22.5)),  # renewal is due later: so is "expiring"
        (QUARTER, timedelta(days=45), timedelta(days=11.25)),
        (QUARTER, timedelta(days=6), timedelta(days=3)),
    ],
)
def test_expiring_starts_at_the_threshold_or_the_renewal_window_whichever_is_later(
    fraction: Fraction, lifetime: timedelta, left_when_expiring: timedelta
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + lifetime
    assert schedule.expiring_from(start, end, limit=timedelta(days=30), fraction=fraction) == end - left_when_expiring


def test_renewal_is_overdue_at_half_the_time_left_at_the_renewal_point() -> None:
    start = datetime(2025, 1, 1, tzinfo=timezone.get_current_timezone())
    end = start + timedelta(days=90)  # renews with 30 days left: overdue with 15 left
    assert not schedule.renewal_overdue(start, end, now=end - timedelta(days=15, minutes=1), fraction=THIRD)
    assert schedule.renewal_overdue(start, end, now=end - timedelta(days=15), fraction=THIRD)
    short = start + timedelta(days=6)  # renews with 3 days left: overdue with 1.5 left
    assert not schedule.renewal_overdue(start, short, now=short - timedelta(hours=37), fraction=THIRD)
    assert schedule.renewal_overdue(start, short, now=short - timedelta(hours=36), fraction=THIRD)


@pytest.mark.parametrize(
    ("fraction", "lifetime", "overdue_with_left"),
    [
        (HALF, timedelta(days=90), timedelta(days=22.5)),
        (QUARTER, timedelta(days=90), timedelta(days=11.25)),
        (HALF, timedelta(days=45), timedelta(days=11.25)),
        (QUARTER, timedelta(days=45), timedelta(days=45 / 8)),
        (QUARTER, timedelta(days=6), timedelta(days=1.5)),  # short: renews at half, whatever was chosen
    ],
)
def test_renewal_overdue_follows_the_chosen_renewal_point(
    fraction: Fraction, lifetime: timedelta, overdue_with_left: timedelta
) -> None:
    end = T0 + lifetime
    assert not schedule.renewal_overdue(T0, end, now=end - overdue_with_left - timedelta(minutes=1), fraction=fraction)
    assert schedule.renewal_overdue(T0, end, now=end - overdue_with_left, fraction=fraction)
