"""Journeys 4 and 5 in a real browser: Generate CSR → download → the CA signs it → a bad upload is refused next to
its field with nothing stored, and a refresh is no dead end → the CA's answer is uploaded → the chain is shown →
New CSR from this certificate, with the CA's maximum validity in view."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from certpanel.models import AuditEvent
from repository.models import Certificate
from tests.support.factories import CA, pem
from tests.support.screenshots import save_screenshot
from tests.test_browser import _login, browser, page  # noqa: F401  (the fixtures of the browser tests)

pytestmark = pytest.mark.browser
NAME = "mail.example.com"


def test_csr_to_a_commercial_ca_and_back_then_a_new_csr(page, ca: CA, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _login(page)
    page.goto("/certificates/")
    page.click("text=Generate CSR")
    assert page.input_value("#id_common_name") == "panel.test", "pre-filled with the panel's name"
    page.fill("#id_common_name", NAME)
    page.fill("#id_organization", "Example GmbH")
    page.fill("#id_country", "DE")
    page.click("button:has-text('Generate CSR')")
    page.wait_for_url("**/certificates/*/")
    entry = Certificate.objects.get(common_name=NAME)
    with page.expect_download() as download:
        page.click("button:has-text('Download CSR (PEM)')")
    csr = x509.load_pem_x509_csr(Path(download.value.path()).read_bytes())
    assert csr.is_signature_valid and csr.subject.rfc4514_string() == f"CN={NAME},O=Example GmbH,C=DE"

    # The CA sends something else first: refused next to the field, nothing stored, and a refresh is no 405.
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(pem(ca.issue(ca.intermediate_key.public_key(), [NAME])))
    page.set_input_files("#id_certificate_file", str(wrong))
    page.click("#complete button:has-text('Upload')")
    assert "does not match" in page.inner_text("#complete .has-error, #complete .errors")
    assert page.url.endswith(f"/certificates/{entry.pk}/"), "the error stays on the certificate's own page"
    entry.refresh_from_db()
    assert entry.is_pending and not entry.certificate_pem
    assert page.goto(page.url).status == 200  # the refresh

    signed = tmp_path / "signed.pem"
    signed.write_bytes(pem(ca.issue(csr.public_key(), [NAME]), ca.intermediate))
    page.set_input_files("#id_certificate_file", str(signed))
    page.click("#complete button:has-text('Upload')")
    page.wait_for_selector("text=is now a certificate")
    chain = page.inner_text("#chain")
    assert "Test Intermediate CA" in chain
    page.click("text=New CSR from this certificate")
    assert "at most 200 days" in page.inner_text("main")
    page.click("button:has-text('Generate CSR')")
    page.wait_for_url("**/certificates/*/")
    successor = Certificate.objects.exclude(pk=entry.pk).get(common_name=NAME)
    assert successor.is_pending and successor.renewed_from_id == entry.pk
    done = list(AuditEvent.objects.filter(actor_name="alice").values_list("action", flat=True))
    assert done.count("csr_create") == 2 and done.count("csr_complete") == 1, done
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        save_screenshot(page, "journey4-new-csr")
