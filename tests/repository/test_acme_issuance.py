"""Issuance through the panel's real path: queue → Celery worker on Redis → Pebble (HTTP-01 against the
panel's own responder process) → stored certificate. No mocks."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from repository.errors import RepositoryError
from repository.models import AcmeChallenge, AcmeOrder, Certificate
from tests.support.acme_stack import Stack, acme_stack
from tests.support.pebble import PebbleOptions
from tests.support.processes import wait_for

pytestmark = [pytest.mark.integration]

STEPS = ["queued", "order_created", "challenges_published", "validating", "finalizing", "issued"]


def _chain_verifies(entry: Certificate, stack: Stack) -> None:
    leaf = x509.load_pem_x509_certificate(entry.certificate_pem.encode())
    chain = x509.load_pem_x509_certificates(entry.chain_pem.encode())
    leaf.verify_directly_issued_by(chain[0])
    roots = x509.load_pem_x509_certificates(stack.pebble.roots_pem())
    assert any(chain[-1].issuer == root.subject for root in roots)


def test_issue_with_wait_drives_every_step_and_stores_a_verified_certificate(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path) as stack:
        bundle = tmp_path / "pebble-ca.pem"
        bundle.write_bytes(stack.pebble.ca_bundle_path.read_bytes())
        registered = cli(
            "acme",
            "register",
            "--directory",
            stack.pebble.directory_url,
            "--email",
            "hostmaster@example.com",
            "--agree-tos",
            "--ca-bundle",
            str(bundle),
            "--json",
        )
        assert registered.code == 0, registered.err
        assert json.loads(registered.out)["uri"].startswith("https://127.0.0.1:")
        result = cli(
            "certs",
            "issue",
            "--domain",
            "mail.example.com",
            "--domain",
            "imap.example.com",
            "--wait",
            "--json",
            "--timeout",
            "120",
        )
        assert result.code == 0, result.err + stack.worker_log()
        data = json.loads(result.out)
        assert data["source"] == "acme" and data["sans"] == ["mail.example.com", "imap.example.com"]
        entry = Certificate.objects.get(pk=data["id"])
        _chain_verifies(entry, stack)
        order = AcmeOrder.objects.get(pk=data["order_id"])
        assert [e.status for e in order.events.all()] == STEPS
        assert not AcmeChallenge.objects.exists(), "tokens are removed when the order ends"
        # Pebble's default is a 5-year certificate: renewal with 1/3 of it left, and ARI checked by the sweep.
        lifetime = entry.not_after - entry.not_before
        assert entry.auto_renew and entry.renew_at is not None
        assert timedelta(0) <= (entry.not_after - lifetime / 3) - entry.renew_at <= timedelta(hours=4)


def test_issuance_survives_pebble_rejecting_20_percent_of_nonces(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path, pebble=PebbleOptions(http_port=0, nonce_reject=20)) as stack:
        stack.account()
        for n in range(4):
            result = cli("certs", "issue", "--domain", f"host{n}.example.com", "--wait", "--json")
            assert result.code == 0, result.err + stack.worker_log()
        assert Certificate.objects.filter(source="acme").count() == 4


def test_90_percent_bad_nonces_fail_cleanly_and_in_bounded_time(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path, pebble=PebbleOptions(http_port=0, nonce_reject=90)) as stack:
        for _ in range(20):  # registration itself meets the same badNonces: a few tries get one through
            try:
                stack.account()
                break
            except RepositoryError:
                continue
        started = time.monotonic()
        result = cli("certs", "issue", "--domain", "mail.example.com", "--wait", "--json", "--timeout", "120")
        assert result.code == 1
        assert "badNonce" in result.error_line, result.err
        assert "Traceback" not in result.err
        assert time.monotonic() - started < 100
        assert not Certificate.objects.filter(source="acme").exists()


def test_pebble_killed_mid_order_and_restarted_still_issues(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path, gated=True) as stack:
        stack.account()
        outcome: dict[str, object] = {}
        waiter = threading.Thread(
            target=lambda: outcome.update(
                result=cli("certs", "issue", "--domain", "mail.example.com", "--wait", "--json", "--timeout", "120")
            )
        )
        waiter.start()
        assert stack.gate is not None
        stack.gate.wait_requested(timeout=120)  # the CA is validating, held at the gate
        wait_for(lambda: AcmeOrder.objects.filter(status="validating").exists(), timeout=10, what="validation")
        stack.pebble.restart()  # in-memory CA: the account and the order are gone
        stack.gate.release()
        waiter.join(150)
        result = outcome["result"]
        assert result.code == 0, result.err + stack.worker_log()  # type: ignore[attr-defined]
        order = AcmeOrder.objects.get()
        messages = " ".join(e.message for e in order.events.all())
        assert "registered again" in messages
        assert Certificate.objects.filter(source="acme").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["certs", "issue", "--domain", "mail.example.com"], "error: no ACME account: register one"),
        (["acme", "register", "--directory", "https://127.0.0.1:9/dir", "--agree-tos"], "cannot reach"),
        (["acme", "register", "--directory", "not a url"], "is not a directory URL"),
        (["acme", "register", "--directory", "letsencrypt", "--eab-kid", "k"], "--eab-kid needs --eab-hmac-file"),
        (["certs", "renew", "--id", "777"], "There is no certificate #777"),
    ],
)
def test_acme_cli_errors_are_one_line(cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.code == 1 and message in result.error_line, result.err
    assert result.err.count("\n") == 1


def test_wildcards_are_refused_before_anything_is_queued(cli, tmp_path: Path) -> None:
    with acme_stack(tmp_path, worker=False) as stack:
        stack.account()
        result = cli("certs", "issue", "--domain", "*.example.com")
        assert result.code == 1 and "HTTP-01 cannot validate wildcards" in result.error_line
        assert not AcmeOrder.objects.exists()


def test_external_account_binding_is_required_and_then_accepted(cli, tmp_path: Path, write_file) -> None:
    hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    options = PebbleOptions(http_port=0, eab_required=True, eab_keys={"kid-1": hmac})
    with acme_stack(tmp_path, pebble=options, worker=False) as stack:
        bundle = write_file("ca.pem", stack.pebble.ca_bundle_path.read_bytes())
        base = ["acme", "register", "--directory", stack.pebble.directory_url, "--agree-tos", "--ca-bundle", bundle]
        refused = cli(*base)
        assert refused.code == 1 and "External Account Binding" in refused.error_line
        accepted = cli(
            *base, "--eab-kid", "kid-1", "--eab-hmac-file", write_file("hmac", hmac.encode() + b"\n"), "--json"
        )
        assert accepted.code == 0, accepted.err
        assert json.loads(accepted.out)["eab_kid"] == "kid-1"
