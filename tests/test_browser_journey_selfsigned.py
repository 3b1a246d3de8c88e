"""Journey 2 in a real browser against a real Dovecot: Create Self-signed Certificate with a passphrase →
Select from repository on IMAPS → the passphrase prompt → Save deploys and reloads → verified green; an expired
certificate is shown but cannot be selected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from certpanel.models import AuditEvent
from repository.actions import certificate_import
from services.deployments import deployment_run
from services.models import Deployment
from services.verification import listeners_verify
from tests.support import daemons
from tests.support.dovecot_listeners import dovecot_listener, tls_files
from tests.support.factories import CA, ec_key, key_pem, pem
from tests.support.screenshots import save_screenshot
from tests.test_browser import _login, browser, page  # noqa: F401 - the Chromium fixtures

pytestmark = [pytest.mark.browser, pytest.mark.integration]
NAME = "mail.example.com"


def test_self_signed_with_a_passphrase_on_imaps_verified_and_an_expired_one_refused(
    page: Any,  # noqa: F811 - the fixture imported above
    ca: CA,
    tmp_path: Path,
    settings: Any,
) -> None:
    deploy = tmp_path / "deploy"
    settings.CERTPANEL_DEPLOY_DIR = str(deploy)
    tls = tls_files(deploy / "dovecot", ca, NAME)
    stale_key = ec_key()
    stale = ca.issue(stale_key.public_key(), [NAME], not_before=datetime.now(UTC) - timedelta(days=20), days=10)
    certificate_import(certificate_data=pem(stale, ca.intermediate), key_data=key_pem(stale_key))
    with daemons.dovecot(tmp_path / "dovecot", tls) as daemon:
        imaps = dovecot_listener(daemon, "imaps", tls, server_name=NAME)
        _login(page)
        page.goto("/certificates/")
        page.click("text=Create Self-signed Certificate")
        page.fill("#id_hostname", NAME)
        page.select_option("#id_key_type", "ec256")
        page.fill("#id_passphrase", "open sesame")
        page.fill("#id_passphrase_confirm", "open sesame")
        page.click("button:has-text('Create Self-Signed Certificate')")
        page.wait_for_url("**/certificates/*/")

        page.click("nav >> text=Services")
        page.click(f"#listener-{imaps.pk} >> text=Change")
        offers = page.inner_text("#offers")
        assert "not selectable: " in offers and "expired" in offers, offers
        page.click("#offers tr:has(.badge.valid) >> text=Select")
        assert "Save deploys the certificate to IMAPS and reloads the daemon (Dovecot" in page.inner_text("#assign")
        page.fill("#id_passphrase", "open sesame")
        page.click("button:has-text('Save')")
        page.wait_for_url(f"**/services/{imaps.pk}/")
        assert "deploying it now" in page.inner_text(".messages")

        deployment_run(Deployment.objects.get(listener=imaps).pk)  # the worker's part, here
        imaps.refresh_from_db()
        (result,) = listeners_verify([imaps])[imaps.pk]  # the worker's verification after it
        assert result.ok, result.error
        page.wait_for_selector("#report .badge.valid", timeout=20_000)
        assert "Succeeded" in page.inner_text("#deployments")
        served = daemons.served_chain(daemon.host, imaps.port, "imaps", NAME)[0]
        assert daemons.sha256_fingerprint(served).lower() == imaps.certificate.fingerprint_sha256  # type: ignore[union-attr]
        done = set(AuditEvent.objects.filter(actor_name="alice").values_list("action", flat=True))
        assert {"login", "certificate_create", "certificate_assign", "deployment_request"} <= done, done
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            save_screenshot(page, "journey2-imaps")
