"""certpanel/leases.py on the real database: one holder at a time, the token decides, a lapsed lease is free."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from certpanel.leases import Lease, lease_free, rows_of
from certpanel.models import Notification

LEASE = Lease(seconds=lambda: 60, owner="lease_token")


def _row() -> Notification:
    return Notification.objects.create(
        kind="test", message_id=f"<{timezone.now().timestamp()}@panel.test>", subject="s", body_text="b"
    )


def test_a_held_lease_cannot_be_taken_until_it_runs_out(db: None) -> None:
    row = _row()
    token = LEASE.take(rows_of(Notification, row.pk))
    assert token is not None
    assert LEASE.take(rows_of(Notification, row.pk)) is None
    later = timezone.now() + timedelta(seconds=61)
    assert LEASE.take(rows_of(Notification, row.pk), now=later) not in (None, token)


def test_only_the_holder_renews_or_releases(db: None) -> None:
    row = _row()
    token = LEASE.take(rows_of(Notification, row.pk))
    assert token is not None
    assert not LEASE.renew(rows_of(Notification, row.pk), "someone-else", last_error="theirs")
    assert not LEASE.release(rows_of(Notification, row.pk), "someone-else")
    assert LEASE.renew(rows_of(Notification, row.pk), token, last_error="mine")
    row.refresh_from_db()
    assert row.last_error == "mine" and row.lease_token == token
    assert LEASE.release(rows_of(Notification, row.pk), token, attempts=3)
    row.refresh_from_db()
    assert (row.lease_until, row.lease_token, row.attempts) == (None, "", 3)
    assert Notification.objects.filter(lease_free(timezone.now()), pk=row.pk).exists()


def test_values_written_with_a_take_count_only_for_the_winner(db: None) -> None:
    row = _row()
    assert LEASE.take(rows_of(Notification, row.pk), attempts=1) is not None
    assert LEASE.take(rows_of(Notification, row.pk), attempts=2) is None
    row.refresh_from_db()
    assert row.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_racing_workers_get_one_lease(django_db_blocker: object) -> None:
    row = _row()
    start, tokens = threading.Barrier(8), []

    def worker() -> None:
        try:
            start.wait()
            tokens.append(LEASE.take(rows_of(Notification, row.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [token for token in tokens if token is not None]
    assert len(tokens) == 8 and len(winners) == 1
    row.refresh_from_db()
    assert row.lease_token == winners[0]
