"""bench/dns01.py's side inside the panel's world (its env names the database and broker): registers an account on
the given Pebble, adds the DNS provider of the bench zone, then times N HTTP-01 and N DNS-01 orders, alternating,
one after the other (queued → stored, through the real worker); prints one JSON object on stdout.

The TSIG secret comes in BENCH_TSIG_SECRET (not on the command line, where `ps` shows it).

Usage (by bench/dns01.py): python bench/_dns01_client.py --directory URL --ca-bundle FILE --count N --zone Z
    --server HOST:PORT --tsig-name NAME
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
from repository.dns.providers import dns_provider_create  # noqa: E402
from repository.models import AcmeAccount, AcmeOrder, DnsChallengeRecord  # noqa: E402
from repository.tasks import acme_order_process_task  # noqa: E402

FINAL = ("issued", "failed")


def _timed(account: AcmeAccount, name: str, challenge: str) -> tuple[float, bool]:
    started = time.perf_counter()
    order = acme_order_create(account=account, hostnames=[name], key_type="ec256", challenge=challenge)
    acme_order_process_task.delay(order.pk)
    deadline = time.monotonic() + 120
    while AcmeOrder.objects.filter(pk=order.pk).exclude(status__in=FINAL).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    return time.perf_counter() - started, AcmeOrder.objects.filter(pk=order.pk, status="issued").exists()


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--directory", "--ca-bundle", "--zone", "--server", "--tsig-name"):
        parser.add_argument(option, required=True)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    account = acme_account_register(
        directory_url=args.directory,
        email="bench@example.com",
        agree_tos=True,
        ca_bundle_pem=Path(args.ca_bundle).read_text(),
    )
    dns_provider_create(
        zone=args.zone,
        server=args.server,
        tsig_name=args.tsig_name,
        tsig_algorithm="hmac-sha256",
        tsig_secret=os.environ["BENCH_TSIG_SECRET"],
    )
    figures: dict[str, list[float]] = {"http-01": [], "dns-01": []}
    failed = {"http-01": 0, "dns-01": 0}
    for n in range(args.count):  # alternating: both see the same machine, Pebble and database state
        for challenge, label in (("http-01", "h"), ("dns-01", "d")):
            seconds, issued = _timed(account, f"{label}{n}.{args.zone}", challenge)
            figures[challenge].append(seconds)
            failed[challenge] += not issued
    left = DnsChallengeRecord.objects.filter(removed_at__isnull=True).count()
    print(json.dumps({"figures": figures, "failed": failed, "records_left": left}))


if __name__ == "__main__":
    main()
