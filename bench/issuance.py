"""Benchmark: certificates through the panel's real path on both stacks versus certbot, on one Pebble.

For each stack, a world of its own (tests/support/panel_world.py): the embedded default exactly as `make run`
configures it (SQLite + kombu's filesystem broker in a fresh data dir) and PostgreSQL + Redis (a fresh
database, a private redis-server). In each: `manage.py migrate`, a Celery worker with 2 processes as the
launcher starts it, the panel's `acme_responder` on Pebble's HTTP port; then (bench/_panel_client.py) N
orders one after the other, timed from queueing to stored, and N queued at once. certbot: `certbot certonly
--standalone` on the same Pebble and port, one after the other, from its own venv (default
/tmp/certbot-venv; `python3 -m venv /tmp/certbot-venv && /tmp/certbot-venv/bin/pip install certbot`),
because it pins its own `acme`.

Targets (issue 7): PostgreSQL + Redis ≥ 20x certbot one by one (p50 ≤ 0.15 s); the embedded default ≥ 10x,
and N of N issued queued at once with no error in the worker log.

Usage: .venv/bin/python bench/issuance.py [--count 50] [--certbot /tmp/certbot-venv/bin/certbot]
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
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.panel_world import World, world  # noqa: E402
from tests.support.pebble import Pebble, PebbleOptions, free_port  # noqa: E402
from tests.support.processes import wait_for  # noqa: E402

LABELS = {"embedded": "embedded (SQLite + file broker)", "production": "PostgreSQL + Redis"}
# What the worker log of a clean run never shows.
ERRORS = ("Traceback", "database is locked", "raised unexpected", "transient database error")
WORKER = ["-m", "celery", "-A", "certpanel", "worker", "--loglevel", "INFO", "--concurrency", "2"]


@dataclass
class Result:
    label: str
    one_by_one: list[float]
    batch_seconds: float | None = None
    batch_issued: int = 0
    batch_count: int = 0
    failures: int = 0
    log_errors: int = 0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_stack(stack: str, pebble: Pebble, port: int, count: int, workdir: Path) -> Result:
    with world(stack, workdir / stack) as panel:
        panel.env["CERTPANEL_LOG_LEVEL"] = "INFO"
        panel.manage("migrate", "--verbosity", "0")
        _start(panel, [*WORKER, "--hostname", f"bench-{stack}@%h"], "worker.log", b"ready.")
        responder = ["manage.py", "acme_responder", "--port", str(port), "--host", "127.0.0.1"]
        _start(panel, responder, "responder.log", b"Answering")
        done = subprocess.run(
            [sys.executable, "bench/_panel_client.py", "--directory", pebble.directory_url,
             "--ca-bundle", str(pebble.ca_bundle_path), "--count", str(count), "--label", stack],
            cwd=ROOT, env=panel.env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"{stack}: the bench client failed:\n{done.stderr[-3000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        log = panel.log("worker.log")
        return Result(
            LABELS[stack],
            figures["one_by_one"],
            figures["batch_seconds"],
            figures["batch_issued"],
            figures["batch_count"],
            figures["one_by_one_failed"],
            sum(log.count(error) for error in ERRORS),
        )


def _start(panel: World, args: list[str], log_name: str, ready: bytes) -> None:
    panel.start(args, log_name)
    log = panel.root / log_name
    wait_for(lambda: ready in log.read_bytes(), timeout=90, what=log_name, log=log)


def bench_certbot(certbot: str, pebble: Pebble, port: int, count: int, workdir: Path) -> Result:
    base = [
        certbot,
        "--config-dir", str(workdir / "cb-config"),
        "--work-dir", str(workdir / "cb-work"),
        "--logs-dir", str(workdir / "cb-logs"),
        "--server", pebble.directory_url,
        "--non-interactive",
    ]  # fmt: skip
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(pebble.ca_bundle_path)}
    subprocess.run(
        [*base, "register", "--agree-tos", "-m", "bench@example.com"], check=True, env=env, capture_output=True
    )
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        done = subprocess.run(
            [*base, "certonly", "--standalone", "--http-01-port", str(port), "--http-01-address", "127.0.0.1",
             "-d", f"seq{n}.certbot.bench.example", "--key-type", "ecdsa"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        latencies.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"certbot failed: {done.stderr[-2000:]}")
    return Result("certbot certonly --standalone", latencies)


def table(results: list[Result], certbot: Result | None, count: int) -> str:
    head = (
        f"{'':<34}{'one by one':^40}{'vs certbot':^16}{'all queued at once':^30}\n"
        f"{'':<34}{'p50':>9}{'p95':>9}{'total':>10}{'failed':>9}{'p50':>8}{'total':>8}"
        f"{'total':>10}{'issued':>9}{'log errors':>11}"
    )
    lines = [head]
    for result in [*results, *([certbot] if certbot else [])]:
        values = result.one_by_one
        p50, p95, total = statistics.median(values), percentile(values, 0.95), sum(values)
        line = f"{result.label:<34}{p50:>8.3f}s{p95:>8.3f}s{total:>9.2f}s{result.failures:>9}"
        if certbot and result is not certbot:
            line += f"{statistics.median(certbot.one_by_one) / p50:>7.1f}x{sum(certbot.one_by_one) / total:>7.1f}x"
        else:
            line += f"{'':>16}"
        if result.batch_seconds is not None:
            line += f"{result.batch_seconds:>9.2f}s{f'{result.batch_issued}/{result.batch_count}':>9}"
            line += f"{result.log_errors:>11}"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--certbot", default="/tmp/certbot-venv/bin/certbot")
    parser.add_argument("--stacks", default="embedded,production")
    parser.add_argument("--keep", action="store_true", help="Keep the work dir (worker logs) and say where.")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="certpanel-bench-issuance-"))
    port = free_port()
    pebble = Pebble(workdir / "pebble", PebbleOptions(http_port=port, no_sleep=True, authz_reuse=0))
    try:
        pebble.start()
        results = [bench_stack(stack, pebble, port, args.count, workdir) for stack in args.stacks.split(",")]
        certbot = None
        if shutil.which(args.certbot) or Path(args.certbot).exists():
            certbot = bench_certbot(args.certbot, pebble, port, args.count, workdir)
        print(
            f"issuance of {args.count} certificates on one Pebble (PEBBLE_VA_NOSLEEP=1), "
            f"worker with 2 processes, {os.cpu_count()} CPUs"
        )
        print(table(results, certbot, args.count))
        if certbot is None:
            print(f"certbot not found at {args.certbot}: install it to compare (see this file's docstring)")
    finally:
        pebble.close()
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
