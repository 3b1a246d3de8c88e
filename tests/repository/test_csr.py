"""CSR for a commercial CA: generate, download, sign with a test CA, upload what comes back."""

import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from repository.models import Certificate
from repository.tasks import certificate_chain_fetch_task
from tests.support.factories import CA, der, ec_key, make_ca, pem


def _csr(entry: Certificate) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(entry.csr_pem.encode())


@pytest.fixture
def pending(staff_client: Client) -> Certificate:
    response = staff_client.post(
        "/certificates/new/csr/",
        {
            "common_name": "mail.example.com",
            "sans": "smtp.example.com",
            "key_type": "ec256",
            "organization": "Example Ltd",
            "organizational_unit": "IT",
            "locality": "Berlin",
            "state": "Berlin",
            "country": "de",
            "email": "hostmaster@example.com",
        },
    )
    assert response.status_code == 302
    return Certificate.objects.get()


@pytest.fixture
def aia_server(ca: CA) -> Iterator[str]:
    """Serves the intermediate as DER like a CA's "CA Issuers" URL; loopback only."""
    body = der(ca.intermediate)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/int.der" else 404)
            self.send_header("Content-Type", "application/pkix-cert")
            self.end_headers()
            self.wfile.write(body if self.path == "/int.der" else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/int.der"
    server.shutdown()


def test_csr_carries_subject_and_names_and_is_downloadable(staff_client: Client, pending: Certificate) -> None:
    csr = _csr(pending)
    assert csr.is_signature_valid
    subject = csr.subject.rfc4514_string()
    for part in ("CN=mail.example.com", "O=Example Ltd", "OU=IT", "L=Berlin", "C=DE"):
        assert part in subject
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["mail.example.com", "smtp.example.com"]
    assert pending.is_pending and pending.key is not None
    page = staff_client.get("/certificates/")
    assert "Pending CSR" in page.content.decode()
    download = staff_client.post(f"/certificates/{pending.pk}/export/", {"export_format": "csr"})
    assert download.status_code == 200 and download.content.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert "mail.example.com.csr" in download["Content-Disposition"]


def test_complete_with_reversed_chain_orders_it_leaf_to_root(
    staff_client: Client, pending: Certificate, ca: CA
) -> None:
    leaf = ca.sign_csr(_csr(pending))
    bundle = pem(ca.root, ca.intermediate, leaf)  # root first: the order some CAs mail it in
    response = staff_client.post(f"/certificates/{pending.pk}/complete/", {"certificate_text": bundle.decode()})
    assert response.status_code == 302
    entry = Certificate.objects.get()
    assert not entry.is_pending and entry.source == "csr"
    assert entry.certificate_pem.encode() == pem(leaf)
    assert entry.chain_pem.encode() == pem(ca.intermediate, ca.root)
    assert entry.issuer == "Test Intermediate CA"


def test_complete_accepts_der_leaf_and_pkcs7_chain_as_files(staff_client: Client, pending: Certificate, ca: CA) -> None:
    leaf = ca.sign_csr(_csr(pending))
    p7 = pkcs7.serialize_certificates([ca.intermediate, ca.root], encoding=Encoding.DER)
    response = staff_client.post(
        f"/certificates/{pending.pk}/complete/",
        {
            "certificate_file": SimpleUploadedFile("mail.cer", der(leaf)),
            "chain_file": SimpleUploadedFile("bundle.p7b", p7),
        },
    )
    assert response.status_code == 302
    assert Certificate.objects.get().chain_pem.encode() == pem(ca.intermediate, ca.root)


def test_complete_refuses_a_certificate_for_another_key(staff_client: Client, pending: Certificate, ca: CA) -> None:
    other = ca.issue(ec_key().public_key(), ["mail.example.com"])
    response = staff_client.post(f"/certificates/{pending.pk}/complete/", {"certificate_text": pem(other).decode()})
    assert response.status_code == 400
    assert "does not match this CSR" in response.content.decode()
    assert Certificate.objects.get().is_pending


def test_missing_intermediate_is_fetched_from_aia_by_the_worker(
    staff_client: Client, pending: Certificate, ca: CA, aia_server: str, settings: Any
) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]  # the CA's AIA server is on loopback: the admin allows it
    leaf = ca.sign_csr(_csr(pending), aia_url=aia_server)
    response = staff_client.post(
        f"/certificates/{pending.pk}/complete/", {"certificate_text": pem(leaf).decode()}, follow=True
    )
    page = response.content.decode()
    assert "is missing: the panel is fetching it" in page and "fetching</span>" in page and "refresh.js" in page
    assert Certificate.objects.get().chain_pem == "", "stored at once with what was uploaded, nothing fetched"

    assert certificate_chain_fetch_task.apply(args=[pending.pk]).get() == "done"  # what the worker runs
    page = staff_client.get(f"/certificates/{pending.pk}/").content.decode()
    assert "Added the intermediate" in page and "refresh.js" not in page
    assert Certificate.objects.get().chain_pem.encode() == pem(ca.intermediate)


def test_offline_aia_names_the_missing_intermediate(
    staff_client: Client, pending: Certificate, ca: CA, settings: Any
) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    leaf = ca.sign_csr(_csr(pending), aia_url="http://127.0.0.1:9/int.der")  # discard port: refused
    response = staff_client.post(
        f"/certificates/{pending.pk}/complete/", {"certificate_text": pem(leaf).decode()}, follow=True
    )
    page = response.content.decode()
    assert "CN=Test Intermediate CA" in page and "is missing" in page
    assert certificate_chain_fetch_task.apply(args=[pending.pk]).get() == "failed"
    page = html.unescape(staff_client.get(f"/certificates/{pending.pk}/").content.decode())
    assert "the CA Issuers URL could not be fetched: could not connect" in page
    assert "CN=Test Intermediate CA" in page and "is missing: upload it as the chain" in page
    notes = next(line for line in page.splitlines() if "could not be fetched" in line)
    assert "127.0.0.1" not in notes and ":9" not in notes, "no internal address or port in the error"
    entry = Certificate.objects.get()
    assert not entry.is_pending and entry.chain_pem == ""


def test_importing_the_ca_answer_completes_the_pending_entry(
    staff_client: Client, pending: Certificate, ca: CA
) -> None:
    leaf = ca.sign_csr(_csr(pending))
    response = staff_client.post(
        "/certificates/import/", {"certificate_text": pem(leaf, ca.intermediate).decode()}, follow=True
    )
    assert "answers the pending CSR" in response.content.decode()
    assert Certificate.objects.count() == 1 and not Certificate.objects.get().is_pending


def test_cli_csr_then_complete(cli, write_file, tmp_path, ca: CA) -> None:
    out = tmp_path / "req.csr"
    result = cli(
        "certs",
        "csr",
        "--name",
        "mx.example.org",
        "--san",
        "mx2.example.org",
        "--org",
        "Example",
        "--country",
        "NL",
        "--key-type",
        "rsa2048",
        "--out",
        str(out),
        "--json",
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["status"] == "pending" and data["source"] == "csr" and data["not_after"] is None
    csr = x509.load_pem_x509_csr(out.read_bytes())
    leaf = ca.sign_csr(csr)
    done = cli(
        "certs",
        "complete",
        str(data["id"]),
        "--cert",
        write_file("leaf.pem", pem(leaf)),
        "--chain",
        write_file("chain.pem", pem(ca.intermediate)),
        "--json",
    )
    assert done.code == 0, done.err
    completed = json.loads(done.out)
    assert completed["status"] == "valid" and completed["issuer"] == "Test Intermediate CA"
    assert completed["sans"] == ["mx.example.org", "mx2.example.org"]


def test_cli_complete_with_wrong_certificate_fails_cleanly(cli, write_file, tmp_path, ca: CA) -> None:
    cli("certs", "csr", "--name", "mx.example.org", "--out", str(tmp_path / "r.csr"))
    entry = Certificate.objects.get()
    stranger = make_ca("Other").issue(ec_key().public_key(), ["mx.example.org"])
    result = cli("certs", "complete", str(entry.pk), "--cert", write_file("x.pem", pem(stranger)))
    assert result.code == 1 and result.error_line.startswith("error: The uploaded certificate does not match")
    assert Certificate.objects.get().is_pending


@pytest.mark.parametrize("country", ["Germany", "1X"])
def test_csr_rejects_a_country_that_is_not_two_letters(staff_client: Client, country: str) -> None:
    response = staff_client.post(
        "/certificates/new/csr/", {"common_name": "mail.example.com", "key_type": "ec256", "country": country}
    )
    assert "Country must be a two-letter code" in response.content.decode() or "at most 2" in response.content.decode()
    assert not Certificate.objects.exists()


def test_cli_csr_to_an_unwritable_path_leaves_no_pending_entry(cli) -> None:
    result = cli("certs", "csr", "--name", "mx.example.org", "--out", "/nonexistent-dir/req.csr")
    assert result.code == 1 and result.error_line.startswith("error: cannot write /nonexistent-dir/req.csr")
    assert not Certificate.objects.exists()
