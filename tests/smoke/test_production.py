"""Production smoke: the panel installed from requirements/base.txt alone, run and driven as an admin would.

Twice: on the embedded default (SQLite + filesystem broker in a fresh data dir, as `make run` starts it) and on
PostgreSQL + Redis (a database created and dropped here, a Redis DB of its own). Each run starts
`manage.py runpanel`, checks /health/ and the login page (with two-factor login, set up from the secret the page
shows, then a second login with a code), then through the documented CLI: a self-signed
certificate, an ACME certificate from Pebble through the real worker (HTTP-01 answered by the panel's web
process), a deployment to a `files` listener whose files are compared with the exports, and a renewal that the CA
fails, whose email must reach an SMTP sink. Then Ctrl-C (SIGINT), and no process of that panel may remain.

Only documented behaviour is relied on (README: CLI reference, configuration, /health/): other branches change
how emails, deployments and orders work inside, so the email is waited for, not assumed sent inline.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from tests.smoke.conftest import DURATIONS
from tests.support.pebble import (
    PEBBLE_ALLOW,
    Pebble,
    PebbleOptions,
    free_port,
    pebble_installed,
    running_pebble,
)
from tests.support.runtime_panel import Panel, user_env, wait_until
from tests.support.smtp import SmtpSink
from tests.support.tls_files import FileTlsServer

pytestmark = pytest.mark.integration

NOTIFY = "hostmaster@smoke.example"
ACME_NAME = "acme.smoke.example"
SMOKE_REDIS_URL = "CERTPANEL_SMOKE_REDIS_URL"  # default: DB 14 of the local Redis (bench uses 15)
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/certpanel"


@dataclass(frozen=True)
class Stack:
    label: str
    production: bool


STACKS = [
    Stack("embedded default (SQLite + filesystem broker)", production=False),
    Stack("production (PostgreSQL + Redis)", production=True),
]


def _unavailable(what: str, error: Exception) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the production smoke on {what}: {error}")
    pytest.skip(f"{what} not reachable: {error}")


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database `<DATABASE_URL's name>_smoke` on DATABASE_URL's server (127.0.0.1:5432 by default)."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urllib.parse.urlsplit(url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_POSTGRES)
    name = f"{parts.path.lstrip('/') or 'certpanel'}_smoke"
    maintenance = parts._replace(path="/postgres").geturl()
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as admin:
            admin.execute(drop)  # left over by a run that was killed
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as error:
        _unavailable("PostgreSQL", error)
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as admin:
            admin.execute(drop)


@contextlib.contextmanager
def redis_database() -> Iterator[str]:
    url = os.environ.get(SMOKE_REDIS_URL) or "redis://127.0.0.1:6379/14"
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()  # a DB of the smoke's own: whatever a killed run left must not be delivered now
    except redis.RedisError as error:
        _unavailable("Redis", error)
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def _first_start(panel: Panel, stack: Stack) -> str:
    """The first-start output: the admin password (returned), the URL, and the name of the panel's certificate."""
    output = panel.output()
    password = re.search(r"password:\s+(\S+)", output)
    assert password, f"no admin password in the first-start output:\n{output[-3000:]}"
    assert f"certpanel is running at http://localhost:{panel.port}/" in output
    assert "the first login sets up two-factor login" in output, "the first-start output must tell about 2FA"
    created = re.search(r"self-signed certificate #(\d+) for (\S+?),", output)
    assert created, f"the first-start certificate is not announced:\n{output[-3000:]}"
    if stack.production:
        assert created.group(2) == "mail.smoke.example" and "comes from CERTPANEL_HOSTNAME" in output
    else:
        assert "CERTPANEL_HOSTNAME is not set" in output and "set CERTPANEL_HOSTNAME=" in output
    default = [c for c in panel.cli_json("certs", "list") if c["is_default"]]
    assert [c["name"] for c in default] == [created.group(2)]
    return password.group(1)


def _web(panel: Panel, password: str) -> None:
    health = wait_until(
        lambda: (h := panel.health()) and h.get("worker_ok") and h, timeout=120, what="/health/", panel=panel
    )
    assert health["status"] == "ok" and health["database"] == "ok"
    # beat -> broker -> worker -> database: the heartbeat moves on (CERTPANEL_HEARTBEAT_SECONDS=2).
    wait_until(
        lambda: (panel.health() or {}).get("worker_last_seen") != health["worker_last_seen"],
        timeout=60,
        what="a beat-scheduled heartbeat",
        panel=panel,
    )
    anonymous = panel.request("/certificates/")
    assert anonymous.status == 200 and "/login/" in anonymous.url, "pages must ask for a login"
    page = panel.login("admin", password)
    # A login lands on the dashboard: it renders from the runtime venv on this stack.
    assert page.status == 200 and urllib.parse.urlsplit(page.url).path == "/", f"login failed: {page.status} {page.url}"
    assert "Expiring in the next 120 days" in page.body, "the dashboard did not render"
    # Two-factor login is on, as for users (CERTPANEL_REQUIRE_2FA's default): the first login set it up.
    assert panel.authenticator and len(set(panel.recovery_codes)) == 10, "the first login set up no two-factor login"
    panel.cookies.clear()
    again = panel.login("admin", password)
    landed = urllib.parse.urlsplit(again.url).path
    assert again.status == 200 and landed == "/", f"code login: {again.status} {again.url}"


def _issue(panel: Panel, pebble_url: str, ca_bundle: Path) -> dict:
    made = panel.cli_json("certs", "selfsigned", "--name", "selfsigned.smoke.example", "--key-type", "ec256")
    assert (made["source"], made["status"]) == ("self_signed", "valid")
    account = panel.cli_json(
        "acme", "register", "--directory", pebble_url, "--email", NOTIFY, "--agree-tos", "--ca-bundle", str(ca_bundle)
    )
    assert account["id"] and account["uri"].startswith("https://127.0.0.1:")
    issued = panel.cli_json(
        "certs", "issue", "--domain", ACME_NAME, "--key-type", "ec256", "--wait", "--timeout", "120", timeout=150
    )
    assert (issued["source"], issued["status"], issued["sans"]) == ("acme", "valid", [ACME_NAME])
    listing = panel.request("/certificates/")
    assert ACME_NAME in listing.body and "selfsigned.smoke.example" in listing.body
    return issued


def _deploy(panel: Panel, certificate_id: int, workdir: Path) -> None:
    target = workdir / "daemon"
    paths = {kind: target / f"{kind}.pem" for kind in ("cert", "chain", "fullchain", "key")}
    with FileTlsServer(paths["fullchain"], paths["key"]) as daemon:
        # cert/chain/fullchain/key paths (documented flags), and `true` as check and reload: the server above
        # reads the files at each handshake, as a daemon does after its reload.
        panel.cli_json(
            "services", "add", "--name", "smoke-files", "--protocol", "https", "--host", "127.0.0.1",
            "--port", str(daemon.port), "--daemon", "files", "--server-name", ACME_NAME,
            *(arg for kind, path in paths.items() for arg in (f"--{kind}-path", str(path))),
        )  # fmt: skip
        panel.cli_ok("services", "assign", "smoke-files", str(certificate_id))
        panel.cli_ok("services", "deploy", "smoke-files")
        exported = {}
        for kind, export_format in (("cert", "pem"), ("chain", "chain"), ("fullchain", "fullchain"), ("key", "key")):
            out = workdir / f"export-{kind}.pem"
            panel.cli_ok("certs", "export", str(certificate_id), "--format", export_format, "--out", str(out))
            exported[kind] = out.read_bytes()
        wait_until(
            lambda: all(p.exists() and p.read_bytes() == exported[k] for k, p in paths.items()),
            timeout=60,
            what="the deployed files to match the certificate's exports",
            panel=panel,
        )
        assert paths["key"].stat().st_mode & 0o777 == 0o600
        [report] = panel.cli_json("services", "verify", "smoke-files")
        assert report["ok"] and report["matches_expected"], report
        assert daemon.handshakes >= 1


def _renewal_failure_email(panel: Panel, pebble: Pebble, sink: SmtpSink, certificate_id: int) -> None:
    # The CA now resolves the name to 127.0.0.2, where nothing listens: HTTP-01 fails, so the renewal does.
    pebble.add_a_record(ACME_NAME, "127.0.0.2")
    for _ in range(3):
        renew = ("certs", "renew", "--id", str(certificate_id), "--wait", "--timeout", "120", "--json")
        done = panel.cli(*renew, timeout=150)
        if done.returncode != 0:
            break
        # Pebble reused the last order's valid authorization, so nothing was validated: it does so once in 100
        # orders even at PEBBLE_AUTHZREUSE=0 (it reuses unless rand.Intn(100) > percent). Renew the new one.
        certificate_id = json.loads(done.stdout)["id"]
    assert done.returncode != 0, "a renewal the CA cannot validate must fail"
    assert done.stderr.strip().splitlines()[-1].startswith("error: "), done.stderr[-2000:]

    def arrived() -> bool:
        return any(
            ACME_NAME in str(message["Subject"]) and NOTIFY in envelope.rcpt_tos
            for message, envelope in zip(sink.messages, sink.envelopes, strict=True)
        )

    wait_until(arrived, timeout=90, what=f"the renewal failure email for {ACME_NAME} at the SMTP sink", panel=panel)


def _stop(panel: Panel) -> None:
    socket_path = panel.data_dir / "gunicorn.ctl"
    assert socket_path.is_socket(), "gunicorn's control socket belongs in the data dir"
    code = panel.interrupt(timeout=60)
    output = panel.output()
    assert code == 0, output[-3000:]
    assert "certpanel: stopped." in output
    wait_until(lambda: not panel.processes(), timeout=20, what="every process of the panel to exit")
    assert panel.health() is None
    assert "Traceback" not in output, output[output.index("Traceback") - 500 :][:4000]


@pytest.mark.skipif(not pebble_installed(), reason="Debian's pebble is not installed (make check-system)")
@pytest.mark.parametrize("stack", STACKS, ids=["embedded", "postgres-redis"])
def test_panel_installed_from_base_requirements_runs_end_to_end(
    stack: Stack, runtime_python: Path, tmp_path: Path
) -> None:
    began = time.monotonic()
    data_dir, port = tmp_path / "data", free_port()
    settings = {
        "CERTPANEL_DATA_DIR": str(data_dir),
        "CERTPANEL_LISTEN": f"127.0.0.1:{port}",
        "CERTPANEL_HEARTBEAT_SECONDS": "2",
        "CERTPANEL_NOTIFY_EMAILS": NOTIFY,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_USE_TLS": "false",
        # Where _deploy's daemon reads its files: the admin allows that directory, as README's Security says.
        "CERTPANEL_DEPLOY_ROOTS": str(tmp_path),
        # Pebble listens on loopback, which outbound fetches refuse: the admin allows it, as README's Security says.
        "CERTPANEL_OUTBOUND_ALLOW": PEBBLE_ALLOW,
    }
    with SmtpSink() as sink, contextlib.ExitStack() as cleanup:
        settings["EMAIL_PORT"] = str(sink.port)
        if stack.production:
            settings["DATABASE_URL"] = cleanup.enter_context(postgres_database())
            settings["CELERY_BROKER_URL"] = cleanup.enter_context(redis_database())
            settings["CERTPANEL_HOSTNAME"] = "mail.smoke.example"
        # Pebble's validation authority connects to the panel's own web port: its web process answers HTTP-01.
        pebble = cleanup.enter_context(running_pebble(tmp_path / "pebble", PebbleOptions(http_port=port)))
        panel = Panel(runtime_python, data_dir, port, user_env(**settings), tmp_path / "panel.log")
        cleanup.callback(panel.kill_leftovers)
        panel.start()
        wait_until(lambda: "certpanel is running" in panel.output(), timeout=120, what="runpanel", panel=panel)
        _web(panel, _first_start(panel, stack))
        issued = _issue(panel, pebble.directory_url, pebble.ca_bundle_path)
        _deploy(panel, issued["id"], tmp_path)
        _renewal_failure_email(panel, pebble, sink, issued["id"])
        _stop(panel)
    DURATIONS[stack.label] = time.monotonic() - began
