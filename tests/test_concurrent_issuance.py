"""20 certificates queued at once through the CLI, on both stacks exactly as users run them.

Each stack is a world of its own (tests/support/panel_world.py): `manage.py runpanel` (web, a worker with 2
processes, beat) on the embedded default, and on PostgreSQL + Redis; the ACME account registered and the
certificates queued with `manage.py acme register` and `manage.py certs issue` (no --wait), against Pebble,
whose HTTP-01 requests the panel's own web server answers. Also with Pebble rejecting 20 % of nonces.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.panel_world import STACKS, World, world
from tests.support.pebble import PebbleOptions, free_port, pebble_installed, running_pebble
from tests.support.processes import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not pebble_installed(), reason="needs Debian's pebble (apt-get install pebble)"),
]

COUNT = 20
ISSUED_WITHIN = 60.0
# What a worker log must never show after concurrent issuance: a task that died, or one that had to be retried
# because SQLite was locked (WAL + IMMEDIATE + busy timeout must make that wait, not fail).
NOT_IN_LOG = ("Traceback", "database is locked", "raised unexpected")


def _health(port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2) as response:
            return dict(json.loads(response.read()))
    except OSError:
        return {}


def _count(panel: World, where: str) -> int:
    return int(panel.query(f"SELECT count(*) FROM repository_acmeorder WHERE {where}")[0][0])


@pytest.mark.parametrize("nonce_reject", [0, 20], ids=["nonces-ok", "nonces-20pct-rejected"])
@pytest.mark.parametrize("stack", STACKS)
def test_twenty_certificates_queued_at_once_are_each_issued_once_within_a_minute(
    stack: str, nonce_reject: int, tmp_path: Path
) -> None:
    port = free_port()
    options = PebbleOptions(http_port=port, nonce_reject=nonce_reject)
    with world(stack, tmp_path / stack) as panel, running_pebble(tmp_path / "pebble", options) as pebble:
        panel.env["CERTPANEL_LISTEN"] = f"127.0.0.1:{port}"
        log = panel.root / "panel.log"
        panel.start(["manage.py", "runpanel"], "panel.log")
        wait_for(lambda: _health(port).get("worker_ok"), timeout=120, what="the panel and its worker", log=log)
        panel.manage(
            "acme", "register", "--directory", pebble.directory_url, "--email", "hostmaster@example.com",
            "--agree-tos", "--ca-bundle", str(pebble.ca_bundle_path),
        )  # fmt: skip
        names = [f"n{n}.{stack}.example.test" for n in range(COUNT)]

        began = time.monotonic()
        panel.manage_many([["certs", "issue", "--domain", name] for name in names])
        queued = time.monotonic() - began
        try:
            wait_for(
                lambda: _count(panel, "status IN ('issued', 'failed')") == COUNT,
                timeout=max(1.0, ISSUED_WITHIN - queued),
                what=f"{COUNT} orders to finish",
                log=log,
            )
        except AssertionError as error:
            statuses = panel.query("SELECT status, count(*) FROM repository_acmeorder GROUP BY status")
            raise AssertionError(f"orders by status: {statuses}\n{error}") from None
        took = time.monotonic() - began

        assert _count(panel, "status = 'issued'") == COUNT, panel.query(
            "SELECT hostnames, status, error FROM repository_acmeorder WHERE status != 'issued'"
        )
        assert _count(panel, "status NOT IN ('issued', 'failed')") == 0
        per_name = dict(
            panel.query("SELECT name, count(*) FROM repository_certificate WHERE source = 'acme' GROUP BY name")
        )
        assert per_name == dict.fromkeys(names, 1)
        output = panel.log("panel.log")
        for phrase in NOT_IN_LOG:
            assert phrase not in output, (
                f"{phrase!r} in the panel's log:\n{output[output.find(phrase) - 2000 :][:4000]}"
            )
        if stack == "embedded":
            assert panel.query("PRAGMA journal_mode") == [("wal",)]
        print(f"{stack}, {nonce_reject} % nonces rejected: {COUNT} issued in {took:.1f} s (queued in {queued:.1f} s)")
