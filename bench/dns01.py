"""Benchmark: DNS-01 issuance through the panel's real path next to HTTP-01, in the same run, on one Pebble.

A private BIND (tests/support/dns_server.py) holds the zone bench.test (every name's A record is 127.0.0.1, for
HTTP-01) and takes the panel's TSIG-signed updates; Pebble resolves through it (-dnsserver), so a DNS-01 answer is a
real TXT record a real nameserver serves. The panel runs in a PostgreSQL + Redis world of its own
(tests/support/panel_world.py): `manage.py migrate`, a Celery worker with 2 processes, the `acme_responder` on
Pebble's HTTP port. bench/_dns01_client.py then times N certificates of each type, alternating, each from
queueing to stored: for DNS-01 that includes the check that every name has a provider, the update, the wait until
the zone's nameserver serves the record, the CA's lookup, and the removal of the record.

Usage: .venv/bin/python bench/dns01.py [--count 20] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.dns_server import Named, TsigKey, Zone, free_shared_port  # noqa: E402
from tests.support.panel_world import World, world  # noqa: E402
from tests.support.pebble import Pebble, PebbleOptions, free_port  # noqa: E402
from tests.support.processes import wait_for  # noqa: E402

ZONE = "bench.test"
WORKER = ["-m", "celery", "-A", "certpanel", "worker", "--loglevel", "INFO", "--concurrency", "2"]


def _start(panel: World, args: list[str], log_name: str, ready: bytes) -> None:
    panel.start(args, log_name)
    log = panel.root / log_name
    wait_for(lambda: ready in log.read_bytes(), timeout=90, what=log_name, log=log)


def run(count: int, workdir: Path) -> dict[str, object]:
    key = TsigKey.generate()
    dns_port = free_shared_port(("127.0.0.1",))
    zone = Zone(ZONE, {f"ns1.{ZONE}": "127.0.0.1"}, records=["* IN A 127.0.0.1"])
    bind = Named(workdir / "bind", address="127.0.0.1", port=dns_port, key=key, zones=[zone])
    http_port = free_port()
    pebble = Pebble(
        workdir / "pebble",
        PebbleOptions(http_port=http_port, no_sleep=True, authz_reuse=0, dns_server=f"127.0.0.1:{dns_port}"),
    )
    try:
        bind.start()
        pebble.start()
        with world("production", workdir / "panel") as panel:
            panel.env["CERTPANEL_LOG_LEVEL"] = "INFO"
            panel.manage("migrate", "--verbosity", "0")
            _start(panel, [*WORKER, "--hostname", "bench-dns01@%h"], "worker.log", b"ready.")
            responder = ["manage.py", "acme_responder", "--port", str(http_port), "--host", "127.0.0.1"]
            _start(panel, responder, "responder.log", b"Answering")
            done = subprocess.run(
                [sys.executable, "bench/_dns01_client.py", "--directory", pebble.directory_url,
                 "--ca-bundle", str(pebble.ca_bundle_path), "--count", str(count), "--zone", ZONE,
                 "--server", f"127.0.0.1:{dns_port}", "--tsig-name", key.name],
                cwd=ROOT, env={**panel.env, "BENCH_TSIG_SECRET": key.secret}, capture_output=True, text=True,
                timeout=1800,
            )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"the bench client failed:\n{done.stderr[-3000:]}")
            result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
            result["leftover_txt"] = len(bind.txt(f"_acme-challenge.d0.{ZONE}"))
            return result
    finally:
        pebble.close()
        bind.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="Keep the work dir (worker logs) and say where.")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="certpanel-bench-dns01-"))
    try:
        result = run(args.count, workdir)
    finally:
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    figures: dict[str, list[float]] = result["figures"]  # type: ignore[assignment]
    failed: dict[str, int] = result["failed"]  # type: ignore[assignment]
    print(
        f"issuance of {args.count} certificates per challenge type, one by one, on one Pebble resolving through a "
        f"private BIND (PEBBLE_VA_NOSLEEP=1); PostgreSQL + Redis, worker with 2 processes, {os.cpu_count()} CPUs"
    )
    print(f"{'':<10}{'p50':>10}{'total':>10}{'failed':>8}")
    for challenge in ("http-01", "dns-01"):
        values = figures[challenge]
        print(f"{challenge:<10}{statistics.median(values):>9.3f}s{sum(values):>9.2f}s{failed[challenge]:>8}")
    ratio_p50 = statistics.median(figures["dns-01"]) / statistics.median(figures["http-01"])
    ratio_total = sum(figures["dns-01"]) / sum(figures["http-01"])
    print(f"DNS-01 / HTTP-01: p50 {ratio_p50:.2f}x, total {ratio_total:.2f}x")
    print(f"challenge records left: {result['records_left']} rows live, {result['leftover_txt']} TXT in the zone")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
