"""A worker SIGKILLed mid-validation, on the real path (Pebble, the panel's responder behind a gate, Celery
worker and beat on Redis): the order ends in a final state, driven by the frequent resume sweep.

Short lease and sweep intervals come through the environment, so what takes minutes in production
(a 120 s lease, a 30 s sweep) takes seconds here; the code path is the same.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from repository.acme.accounts import session_for
from repository.models import AcmeOrder, Certificate
from tests.support.acme_stack import Stack, acme_stack
from tests.support.processes import wait_for
from tests.support.smtp import SmtpSink

pytestmark = [pytest.mark.integration]

FAST = {"CERTPANEL_ACME_LEASE_SECONDS": "3", "CERTPANEL_ORDER_RESUME_SECONDS": "1"}


def _kill_mid_validation(stack: Stack, order: AcmeOrder) -> None:
    """The CA is fetching the challenge (held at the gate): the worker is mid-validation, deterministically."""
    assert stack.gate is not None
    stack.gate.wait_requested(timeout=60)
    wait_for(
        lambda: AcmeOrder.objects.filter(pk=order.pk, status="validating").exists(),
        timeout=15,
        what="validation to start",
        log=stack.workdir / "worker.log",
    )
    stack.kill_worker()


def _ca_status(order: AcmeOrder) -> str:
    return session_for(order.account).order(order.order_url).status


def test_order_the_ca_marks_invalid_after_its_worker_died_fails_with_the_cas_reason_and_emails(
    cli: Any, tmp_path: Path
) -> None:
    with SmtpSink() as sink:
        env = {
            **FAST,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink.port),
            "EMAIL_USE_TLS": "false",
            "CERTPANEL_NOTIFY_EMAILS": "admins@example.com",
        }
        with acme_stack(tmp_path, gated=True, env=env) as stack:
            assert stack.gate is not None
            stack.account()
            stack.gate.release()
            issued = cli("certs", "issue", "--domain", "mail.example.com", "--wait", "--json", "--timeout", "120")
            assert issued.code == 0, issued.err + stack.worker_log()
            entry = Certificate.objects.get(pk=json.loads(issued.out)["id"])
            stack.gate.hold()
            queued = cli("certs", "renew", "--id", str(entry.pk), "--json")
            assert queued.code == 0, queued.err
            order = AcmeOrder.objects.get(pk=json.loads(queued.out)["order_id"])
            _kill_mid_validation(stack, order)
            order.refresh_from_db()
            assert order.status == "validating" and order.order_url
            stack.gate.release(status=404)  # the responder "lost" the token: the CA gets a 404
            wait_for(lambda: _ca_status(order) == "invalid", timeout=60, what="the CA to mark the order invalid")
            before = timezone.now()
            stack.start_worker("worker2")
            stack.start_beat()
            wait_for(
                lambda: not AcmeOrder.objects.get(pk=order.pk).is_active,
                timeout=120,
                what="the order to end",
                log=tmp_path / "worker2.log",
            )
            order.refresh_from_db()
            assert order.status == "failed", stack.worker_log("worker2")
            assert order.problem_type == "unauthorized", order.error
            assert "/.well-known/acme-challenge/" in order.error and "404" in order.error, order.error
            statuses = [e.status for e in order.events.all()]
            assert statuses.count("order_created") == 1, f"no new order at the CA: {statuses}"
            entry.refresh_from_db()
            assert entry.renewal_failures == 1 and entry.last_error == order.error
            assert timedelta(minutes=1) <= entry.renew_at - before <= timedelta(minutes=3), "backed off"
            (mail,) = sink.wait_for(1, timeout=60)
            assert "Renewal of mail.example.com failed" in mail["Subject"]
            assert "404" in mail.get_body(("plain",)).get_content()
            log = (tmp_path / "worker2.log").read_text()
            assert "AssertionError" not in log and "is not a valid transition" not in log


def test_order_left_by_a_killed_worker_is_issued_within_minutes_of_a_new_worker_starting(
    cli: Any, tmp_path: Path
) -> None:
    with acme_stack(tmp_path, gated=True, env=FAST) as stack:
        assert stack.gate is not None
        stack.account()
        queued = cli("certs", "issue", "--domain", "mail.example.com", "--json")
        assert queued.code == 0, queued.err
        order = AcmeOrder.objects.get(pk=json.loads(queued.out)["order_id"])
        _kill_mid_validation(stack, order)
        stack.gate.release()  # the CA validates: the order is valid at the CA, nobody drives it here
        started = time.monotonic()
        stack.start_worker("worker2")
        stack.start_beat()
        wait_for(
            lambda: not AcmeOrder.objects.get(pk=order.pk).is_active,
            timeout=300,
            what="the order to be resumed",
            log=tmp_path / "worker2.log",
        )
        elapsed = time.monotonic() - started
        order.refresh_from_db()
        assert order.status == "issued", order.error + stack.worker_log("worker2")
        assert elapsed < 300
        print(f"resumed and issued {elapsed:.1f} s after the new worker started")
        assert Certificate.objects.filter(source="acme").count() == 1
        assert [e.status for e in order.events.all()].count("order_created") == 1
