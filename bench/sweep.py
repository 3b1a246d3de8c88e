"""Benchmark: the due-renewal sweep over 10,000 certificates (target ≤ 2 s).

Runs the real beat task body (renewal_sweep_task) in this process: one indexed query for what is due,
one queued Celery task each on Redis (DB 15, flushed), plus the ARI, stale-order and expiry-warning
queries. Prints the time for 1 %, 10 % and 100 % of the entries due.

Usage: .venv/bin/python bench/sweep.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import _env
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from repository.keystore import key_store
from repository.models import AcmeAccount, Certificate
from repository.tasks import renewal_sweep_task
from tests.support.factories import ec_key


def populate(rows: int, due_fraction: float, account: AcmeAccount) -> None:
    Certificate.objects.all().delete()
    now = timezone.now()
    due_every = max(1, round(1 / due_fraction))
    Certificate.objects.bulk_create(
        Certificate(
            name=f"host{n:05d}.example.com",
            source="acme",
            common_name=f"host{n:05d}.example.com",
            sans=[f"host{n:05d}.example.com"],
            fingerprint_sha256=f"{n:064x}",
            certificate_pem="x",
            not_before=now - timedelta(days=60),
            not_after=now + timedelta(days=30),
            auto_renew=True,
            acme_account=account,
            ari_next_check=now + timedelta(hours=6),
            renew_at=now - timedelta(minutes=5) if n % due_every == 0 else now + timedelta(days=n % 30 + 1),
        )
        for n in range(rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    account = AcmeAccount.objects.create(name="bench", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    engine = connection.vendor
    print(f"renewal sweep over {args.rows} certificates, {engine}, Redis broker")
    for fraction in (0.01, 0.10, 1.0):
        populate(args.rows, fraction, account)
        _env.flush_broker()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            summary = renewal_sweep_task()
            elapsed = time.perf_counter() - started
        print(
            f"  {fraction:>4.0%} due: {summary['renew']:>5} renewals queued in {elapsed:6.3f} s "
            f"({len(queries)} SQL queries; target ≤ 2 s)"
        )
    _env.flush_broker()


if __name__ == "__main__":
    main()
