"""Benchmark: 50 certificates through the panel's real path versus certbot, on one Pebble.

Panel: queue an order → Celery worker on Redis → Pebble (HTTP-01 answered by the panel's
acme_responder) → stored, one after the other, timed from queueing to stored. Also the same 50
queued at once. certbot: `certbot certonly --standalone` on Pebble's HTTP port, one after the other.
certbot runs from its own venv (default /tmp/certbot-venv; `python3 -m venv /tmp/certbot-venv &&
/tmp/certbot-venv/bin/pip install certbot`), because it pins its own `acme`.

Usage: .venv/bin/python bench/issuance.py [--count 50] [--certbot /tmp/certbot-venv/bin/certbot]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _env
from django.conf import settings

from repository.acme_accounts import acme_account_register
from repository.acme_orders import acme_order_create
from repository.models import AcmeOrder
from repository.tasks import acme_order_process_task
from tests.pebble import Pebble, PebbleOptions, free_port
from tests.processes import child_env, database_url_for_children, start, start_celery_worker, stop, wait_for


def _panel_processes(workdir: Path, port: int) -> tuple[list[subprocess.Popen[bytes]], dict[str, str]]:
    import base64

    from repository.keystore import current_kek

    env = child_env(
        DATABASE_URL=database_url_for_children(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CERTPANEL_DATA_DIR=str(settings.DATA_DIR),
        CERTPANEL_KEY_ENCRYPTION_KEY=base64.b64encode(current_kek()).decode(),
        CERTPANEL_LOG_LEVEL="WARNING",
    )
    responder_log = workdir / "responder.log"
    responder = start(["manage.py", "acme_responder", "--port", str(port), "--host", "127.0.0.1"], env, responder_log)
    wait_for(lambda: b"Answering" in responder_log.read_bytes(), timeout=30, what="responder", log=responder_log)
    worker = start_celery_worker(env, workdir / "worker.log", name="bench")
    return [responder, worker], env


def _wait_final(order_ids: list[int], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while AcmeOrder.objects.filter(
        pk__in=order_ids, status__in=["queued", "order_created", "challenges_published", "validating", "finalizing"]
    ).exists():
        if time.monotonic() > deadline:
            raise SystemExit("orders did not finish in time")
        time.sleep(0.005)


def bench_panel(pebble: Pebble, count: int) -> tuple[list[float], float]:
    account = acme_account_register(
        directory_url=pebble.directory_url,
        email="bench@example.com",
        agree_tos=True,
        ca_bundle_pem=pebble.ca_bundle_path.read_text(),
    )
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        order = acme_order_create(account=account, hostnames=[f"seq{n}.bench.example"], key_type="ec256")
        acme_order_process_task.delay(order.pk)
        _wait_final([order.pk])
        latencies.append(time.perf_counter() - started)
        order.refresh_from_db()
        if order.status != "issued":
            raise SystemExit(f"panel order failed: {order.error}")
    started = time.perf_counter()
    ids = []
    for n in range(count):
        order = acme_order_create(account=account, hostnames=[f"batch{n}.bench.example"], key_type="ec256")
        acme_order_process_task.delay(order.pk)
        ids.append(order.pk)
    _wait_final(ids, timeout=300)
    batch = time.perf_counter() - started
    failed = AcmeOrder.objects.filter(pk__in=ids).exclude(status="issued").count()
    if failed:
        raise SystemExit(f"{failed} batch orders failed")
    return latencies, batch


def bench_certbot(certbot: str, pebble: Pebble, port: int, count: int, workdir: Path) -> list[float]:
    base = [
        certbot,
        "--config-dir",
        str(workdir / "cb-config"),
        "--work-dir",
        str(workdir / "cb-work"),
        "--logs-dir",
        str(workdir / "cb-logs"),
        "--server",
        pebble.directory_url,
        "--non-interactive",
    ]
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(pebble.ca_bundle_path)}
    subprocess.run(
        [*base, "register", "--agree-tos", "-m", "bench@example.com"], check=True, env=env, capture_output=True
    )
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        done = subprocess.run(
            [
                *base,
                "certonly",
                "--standalone",
                "--http-01-port",
                str(port),
                "--http-01-address",
                "127.0.0.1",
                "-d",
                f"seq{n}.bench.example",
                "--key-type",
                "ecdsa",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        latencies.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"certbot failed: {done.stderr[-2000:]}")
    return latencies


def _line(label: str, values: list[float]) -> str:
    return (
        f"  {label:<22} total {sum(values):7.2f} s   p50 {statistics.median(values):6.3f} s   "
        f"p95 {_env.percentile(values, 0.95):6.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--certbot", default="/tmp/certbot-venv/bin/certbot")
    args = parser.parse_args()
    workdir = Path(_env.DATA_DIR) / "issuance"
    workdir.mkdir()
    _env.flush_broker()
    port = free_port()
    pebble = Pebble(workdir / "pebble", PebbleOptions(http_port=port, no_sleep=True, authz_reuse=0))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        pebble.start()
        processes, _ = _panel_processes(workdir, port)
        panel, batch = bench_panel(pebble, args.count)
        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        for process in processes:
            stop(process)
        processes = []
        print(f"issuance of {args.count} certificates on Pebble (PEBBLE_VA_NOSLEEP=1), {engine}, Redis broker")
        print(_line("panel, one by one", panel))
        print(f"  {'panel, all queued':<22} total {batch:7.2f} s   ({args.count / batch:.1f}/s, 2 worker processes)")
        if shutil.which(args.certbot) or Path(args.certbot).exists():
            certbot = bench_certbot(args.certbot, pebble, port, args.count, workdir)
            print(_line("certbot, one by one", certbot))
            print(
                f"  ratio (certbot / panel, one by one): total {sum(certbot) / sum(panel):.1f}x, "
                f"p50 {statistics.median(certbot) / statistics.median(panel):.1f}x"
            )
        else:
            print(f"  certbot not found at {args.certbot}: install it to compare (see this file's docstring)")
    finally:
        for process in processes:
            stop(process)
        pebble.close()
        _env.flush_broker()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
