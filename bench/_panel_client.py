"""One stack's side of bench/issuance.py, run inside that stack's world (its env names the database and broker).

Registers an account on the given Pebble, then times N orders one after the other (queued → stored, through
the real worker) and N queued at once; prints one JSON object on stdout.

Usage (by bench/issuance.py): python bench/_panel_client.py --directory URL --ca-bundle FILE --count N --label L
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certpanel.settings")

import django

django.setup()

from repository.acme.accounts import acme_account_register  # noqa: E402
from repository.acme.orders import acme_order_create  # noqa: E402
from repository.models import AcmeAccount, AcmeOrder  # noqa: E402
from repository.tasks import acme_order_process_task  # noqa: E402

FINAL = ("issued", "failed")


def _wait_final(order_ids: list[int], timeout: float, tick: float) -> None:
    deadline = time.monotonic() + timeout
    while AcmeOrder.objects.filter(pk__in=order_ids).exclude(status__in=FINAL).exists():
        if time.monotonic() > deadline:
            return
        time.sleep(tick)


def _queue(account: AcmeAccount, name: str) -> int:
    order = acme_order_create(account=account, hostnames=[name], key_type="ec256")
    acme_order_process_task.delay(order.pk)
    return int(order.pk)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--directory", required=True)
    parser.add_argument("--ca-bundle", required=True)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--label", required=True)
    args = parser.parse_args()
    account = acme_account_register(
        directory_url=args.directory,
        email="bench@example.com",
        agree_tos=True,
        ca_bundle_pem=Path(args.ca_bundle).read_text(),
    )
    latencies, failed = [], 0
    for n in range(args.count):
        started = time.perf_counter()
        order_id = _queue(account, f"seq{n}.{args.label}.bench.example")
        _wait_final([order_id], timeout=120, tick=0.005)
        latencies.append(time.perf_counter() - started)
        failed += not AcmeOrder.objects.filter(pk=order_id, status="issued").exists()
    started = time.perf_counter()
    ids = [_queue(account, f"batch{n}.{args.label}.bench.example") for n in range(args.count)]
    _wait_final(ids, timeout=300, tick=0.05)  # coarser: the workers need the CPU
    batch = time.perf_counter() - started
    issued = AcmeOrder.objects.filter(pk__in=ids, status="issued").count()
    print(
        json.dumps(
            {
                "one_by_one": latencies,
                "one_by_one_failed": failed,
                "batch_seconds": batch,
                "batch_issued": issued,
                "batch_count": args.count,
            }
        )
    )


if __name__ == "__main__":
    main()
