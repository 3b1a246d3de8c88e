"""Journey 1 in a real browser, with a real Celery worker, Pebble and Dovecot: log in → the dashboard → New
Certificate with no ACME account → register it in place, agreeing to the terms shown → back to the form → the
order's progress → issued → "Use it on services" → IMAPS and POP3S move to it → each is deployed and verified
green on Dovecot's own ports; the jobs page shows the order, the deployments and the probe runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certpanel.models import AuditEvent
from repository.models import AcmeOrder
from services.models import Listener
from tests.support import daemons
from tests.support.acme_stack import acme_stack
from tests.support.dovecot_listeners import dovecot_listener, tls_files
from tests.support.factories import CA
from tests.support.screenshots import save_screenshot
from tests.test_browser import _login, browser, page  # noqa: F401 - the Chromium fixtures

pytestmark = [pytest.mark.browser, pytest.mark.integration]
NAME = "mail.example.com"


def test_new_certificate_from_no_account_to_verified_dovecot_ports(
    page: Any,  # noqa: F811 - the fixture imported above
    ca: CA,
    tmp_path: Path,
    settings: Any,
) -> None:
    deploy = tmp_path / "deploy"
    settings.CERTPANEL_DEPLOY_DIR = str(deploy)
    tls = tls_files(deploy / "dovecot", ca, NAME)
    with (
        daemons.dovecot(tmp_path / "dovecot", tls) as daemon,
        acme_stack(tmp_path, env={"CERTPANEL_DEPLOY_DIR": str(deploy)}) as stack,
    ):
        imaps, pop3s = (dovecot_listener(daemon, p, tls, server_name=NAME) for p in ("imaps", "pop3s"))
        Listener.objects.create(name="Webmail", protocol="https", port=1, daemon="files", server_name="webmail.test")
        _login(page)
        assert page.url.endswith("/"), "a login lands on the dashboard"
        assert page.locator("#counts").is_visible() and page.locator("#matrix").is_visible()
        assert "IMAPS" in page.inner_text("#matrix")

        page.click("nav >> text=Repository")
        page.click(".tabs >> text=Let's Encrypt")
        page.click("text=New Certificate")
        assert "First, an ACME account" in page.inner_text("main")
        page.select_option("#id_preset", "custom")
        page.fill("#id_directory_url", stack.pebble.directory_url)
        page.fill("#id_ca_bundle", stack.pebble.ca_bundle_path.read_text())
        page.fill("#id_name", "Pebble")
        page.click("button:has-text('Register')")
        page.wait_for_selector("text=waiting for your agreement", timeout=30_000)
        assert "Terms of Service" in page.inner_text("#registration-progress")
        page.click("button:has-text('I agree and register')")
        page.wait_for_selector("#id_hostnames", timeout=30_000)  # registered: back on the certificate form

        page.fill("#id_hostnames", NAME)
        page.click("button:has-text('Request certificate')")
        page.wait_for_selector("text=Issued:", timeout=60_000)
        page.click("#result >> text=Use it on services")
        checked = page.locator("#targets input[type=checkbox]:checked")
        assert checked.count() == 2, "the two listeners the certificate covers are ticked, the webmail one not"
        page.click("button:has-text('Use it on the ticked services')")
        page.wait_for_selector("#progress >> text=All ended.", timeout=90_000)
        rows = page.inner_text("#progress-table")
        assert rows.count("Succeeded") == 2 and rows.count("ok") >= 2, rows

        order = AcmeOrder.objects.get()
        for listener in (imaps, pop3s):
            listener.refresh_from_db()
            assert listener.certificate_id == order.certificate_id and listener.last_verify_ok, listener.last_report
            served = daemons.served_chain(daemon.host, listener.port, listener.protocol, NAME)[0]
            assert daemons.sha256_fingerprint(served).lower() == order.certificate.fingerprint_sha256

        page.click("nav >> text=Jobs")
        jobs = page.inner_text("main")
        assert f"#{order.pk}" in jobs and "Deployment" in jobs and "Verification" in jobs, jobs
        # Journey 7: the audit log has every step, each with who did it.
        page.click("nav >> text=Audit log")
        log = page.inner_text("main")
        for done in (
            "logged in",
            "asked to register an ACME account",
            "ordered an ACME certificate",
            "assigned a certificate",
            "requested a deployment",
        ):
            assert done in log, done
        actors = dict(AuditEvent.objects.values_list("action", "actor_name").order_by("at"))
        assert actors["login"] == actors["certificate_order"] == actors["certificate_assign"] == "alice"
        assert actors["certificate_issue"] == "worker", "the worker stored the issued certificate"
        page.click("nav >> text=Dashboard")
        matrix = page.inner_text("#matrix")
        assert "IMAPS" in matrix and "POP3S" in matrix
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            save_screenshot(page, "journey1-dashboard")
