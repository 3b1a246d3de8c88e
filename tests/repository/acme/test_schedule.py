"""acme/schedule.py: when to renew, pure arithmetic (no database)."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from repository.acme import schedule

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lifetime", "fraction_left"),
    [
        (timedelta(days=90), 1 / 3),
        (timedelta(days=45), 1 / 3),
        (timedelta(days=6), 1 / 2),
        (timedelta(seconds=60), 1 / 2),
    ],
)
def test_lifetime_rule_scales_with_the_certificate(lifetime: timedelta, fraction_left: float) -> None:
    plan = schedule.lifetime_plan(T0, T0 + lifetime, rng=random.Random(0))
    left = (T0 + lifetime) - plan.renew_at
    jitter = min(lifetime * schedule.JITTER_FRACTION, schedule.MAX_JITTER)
    assert lifetime * fraction_left <= left <= lifetime * fraction_left + jitter
    assert ("1/2" if fraction_left == 0.5 else "1/3") in plan.rule


def test_lifetime_jitter_spreads_renewals_without_exceeding_its_bound() -> None:
    times = {
        schedule.lifetime_plan(T0, T0 + timedelta(days=90), rng=random.Random(seed)).renew_at for seed in range(20)
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
    ("lifetime", "left_when_expiring"),
    [
        (timedelta(days=365), timedelta(days=30)),  # the fixed threshold is shorter than a third
        (timedelta(days=90), timedelta(days=30)),
        (timedelta(days=45), timedelta(days=15)),  # a third of the lifetime, as renewal
        (timedelta(days=6), timedelta(days=3)),  # half, under ten days
    ],
)
def test_expiring_starts_at_the_threshold_or_the_renewal_window_whichever_is_later(
    lifetime: timedelta, left_when_expiring: timedelta
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + lifetime
    assert schedule.expiring_from(start, end, limit=timedelta(days=30)) == end - left_when_expiring


def test_renewal_is_overdue_at_half_the_time_left_at_the_renewal_point() -> None:
    start = datetime(2025, 1, 1, tzinfo=timezone.get_current_timezone())
    end = start + timedelta(days=90)  # renews with 30 days left: overdue with 15 left
    assert not schedule.renewal_overdue(start, end, now=end - timedelta(days=15, minutes=1))
    assert schedule.renewal_overdue(start, end, now=end - timedelta(days=15))
    short = start + timedelta(days=6)  # renews with 3 days left: overdue with 1.5 left
    assert not schedule.renewal_overdue(start, short, now=short - timedelta(hours=37))
    assert schedule.renewal_overdue(start, short, now=short - timedelta(hours=36))
