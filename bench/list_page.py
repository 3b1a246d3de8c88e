"""Benchmark: the certificates list with 10,000 entries (first page, search, filter, last page).

Run with `make bench`: PostgreSQL when it answers (a throwaway `certpanel_bench` database), else SQLite.
Prints the median and p95 of each page in milliseconds; the list must not slow down with row count.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import _env  # noqa: F401 - a bench database and data dir of its own, Django set up and migrated
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment
from django.utils import timezone

from repository.models import Certificate

ROWS = 10_000
RUNS = 30


def populate() -> None:
    Certificate.objects.all().delete()
    now = timezone.now()
    Certificate.objects.bulk_create(
        Certificate(
            name=f"host{n:05d}.example.com",
            source="imported",
            common_name=f"host{n:05d}.example.com",
            sans=[f"host{n:05d}.example.com", f"alt{n:05d}.example.com"],
            issuer="Example CA",
            serial=f"{n:016x}",
            fingerprint_sha256=f"{n:064x}",
            key_type="ec256",
            certificate_pem="x" * 1200,
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=n % 120 - 10),
            search_text=f"host{n:05d}.example.com alt{n:05d}.example.com example ca",
        )
        for n in range(ROWS)
    )


def measure(client: Client, url: str) -> tuple[float, float]:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, url
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def main() -> None:
    setup_test_environment()
    populate()
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    client = Client()
    client.force_login(user)
    engine = connection.vendor
    print(f"certificates list, {ROWS} rows, {engine}, {RUNS} runs each")
    for label, url in [
        ("first page", "/certificates/"),  # sorted by days left
        ("sorted by name", "/certificates/?sort=name"),
        ("by status, desc", "/certificates/?sort=status&dir=desc"),
        ("search one host", "/certificates/?q=host04242"),
        ("filter expiring", "/certificates/?status=expiring"),
        ("last page", "/certificates/?page=200"),
    ]:
        p50, p95 = measure(client, url)
        print(f"  {label:<18} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
