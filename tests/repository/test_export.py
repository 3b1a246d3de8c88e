"""Export in every format; `openssl` (the tool admins check with) must read each one."""

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.test import Client

from repository.models import Certificate, KeyExport
from tests.support.factories import CA, ec_key, key_pem, pem


@pytest.fixture
def entry(staff_client: Client, ca: CA) -> Certificate:
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["mail.example.com"])
    staff_client.post(
        "/certificates/import/",
        {"certificate_text": pem(leaf, ca.intermediate).decode(), "key_text": key_pem(key).decode()},
    )
    return Certificate.objects.get()


def _export(client: Client, entry: Certificate, fmt: str, **extra: str) -> bytes:
    response = client.post(f"/certificates/{entry.pk}/export/", {"export_format": fmt, **extra})
    assert response.status_code == 200, response.content[:300]
    return response.content


def _openssl(*args: str, data: bytes) -> str:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=True)
    return done.stdout.decode(errors="replace")


def test_every_format_is_readable_by_openssl(staff_client: Client, entry: Certificate, ca: CA) -> None:
    cert = _export(staff_client, entry, "pem")
    assert "CN=mail.example.com" in _openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", data=cert)
    der = _export(staff_client, entry, "der")
    assert "CN=mail.example.com" in _openssl(
        "x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253", data=der
    )
    assert _export(staff_client, entry, "chain") == pem(ca.intermediate)
    fullchain = _export(staff_client, entry, "fullchain")
    assert fullchain == cert + pem(ca.intermediate)
    key = _export(staff_client, entry, "key")
    pub_from_key = _openssl("pkey", "-pubout", data=key)
    pub_from_cert = _openssl("x509", "-noout", "-pubkey", data=cert)
    assert pub_from_key == pub_from_cert
    combined = _export(staff_client, entry, "combined")
    assert combined.startswith(fullchain) and combined.endswith(key)
    p12 = _export(staff_client, entry, "pkcs12", export_password="export-pw")
    info = _openssl("pkcs12", "-nokeys", "-passin", "pass:export-pw", data=p12)
    assert "mail.example.com" in info and "Test Intermediate CA" in info


def test_key_exports_are_recorded_with_user(staff_client: Client, entry: Certificate) -> None:
    _export(staff_client, entry, "pem")
    assert not KeyExport.objects.exists()
    _export(staff_client, entry, "key")
    _export(staff_client, entry, "combined")
    assert list(KeyExport.objects.values_list("actor", "export_format").order_by("id")) == [
        ("alice", "key"),
        ("alice", "combined"),
    ]
    assert "alice" in staff_client.get(f"/certificates/{entry.pk}/").content.decode()


def test_pkcs12_needs_an_export_password(staff_client: Client, entry: Certificate) -> None:
    response = staff_client.post(f"/certificates/{entry.pk}/export/", {"export_format": "pkcs12"})
    assert response.status_code == 400 and "Choose an export password" in response.content.decode()
    assert not KeyExport.objects.exists()


def test_viewer_may_export_the_certificate_but_not_the_key(viewer_client: Client, entry: Certificate) -> None:
    assert viewer_client.post(f"/certificates/{entry.pk}/export/", {"export_format": "fullchain"}).status_code == 200
    assert viewer_client.post(f"/certificates/{entry.pk}/export/", {"export_format": "key"}).status_code == 403
    assert not KeyExport.objects.exists()


def test_cli_export_writes_key_files_0600_and_records_the_export(cli, tmp_path: Path, write_file) -> None:
    created = cli("certs", "selfsigned", "--name", "mail.example.com", "--json")
    cert_id = json.loads(created.out)["id"]
    key_path, cert_path = tmp_path / "mail.key", tmp_path / "mail.crt"
    assert cli("certs", "export", str(cert_id), "--format", "key", "--out", str(key_path)).code == 0
    assert cli("certs", "export", str(cert_id), "--format", "pem", "--out", str(cert_path)).code == 0
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert cert_path.stat().st_mode & 0o777 == 0o644
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert key.public_key() == cert.public_key()
    assert KeyExport.objects.get().actor.startswith("cli:")
    p12 = tmp_path / "m.p12"
    result = cli(
        "certs",
        "export",
        str(cert_id),
        "--format",
        "pkcs12",
        "--out",
        str(p12),
        "--export-password-file",
        write_file("pw", b"pw\n"),
    )
    assert result.code == 0, result.err
    assert "mail.example.com" in _openssl("pkcs12", "-nokeys", "-passin", "pass:pw", data=p12.read_bytes())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999", "--format", "pem"], "error: There is no certificate #999."),
        (["ID", "--format", "chain"], "has no chain"),
        (["ID", "--format", "pkcs12"], "Choose an export password"),
        (["abc", "--format", "pem"], "is not a certificate id"),
    ],
)
def test_cli_export_errors(cli, tmp_path: Path, args: list[str], message: str) -> None:
    cert_id = json.loads(cli("certs", "selfsigned", "--name", "a.example", "--json").out)["id"]
    out = tmp_path / "out"
    result = cli("certs", "export", *[str(cert_id) if a == "ID" else a for a in args], "--out", str(out))
    assert result.code == 1 and message in result.error_line
    assert not out.exists()


def test_cli_key_export_that_cannot_be_written_is_not_recorded(cli) -> None:
    cert_id = json.loads(cli("certs", "selfsigned", "--name", "a.example", "--json").out)["id"]
    result = cli("certs", "export", str(cert_id), "--format", "key", "--out", "/nonexistent-dir/a.key")
    assert result.code == 1 and "cannot write" in result.error_line
    assert not KeyExport.objects.exists()


# -- re-authentication before a private key leaves (issue 9) ------------------------------------------------
def _session_older_than_the_window(client: Client) -> None:
    session = client.session
    session["certpanel_reauth_at"] -= 301
    session.save()


@pytest.mark.parametrize("fmt", ["key", "combined", "pkcs12"])
def test_a_stale_session_gets_the_reauthentication_page_and_no_key(
    staff_client: Client, entry: Certificate, fmt: str
) -> None:
    _session_older_than_the_window(staff_client)
    url = f"/certificates/{entry.pk}/export/"
    asked = staff_client.post(url, {"export_format": fmt, "export_password": "export-pw"})
    page = asked.content.decode()
    assert asked.status_code == 200 and "Content-Disposition" not in asked
    assert "Confirm it's you" in page and 'name="reauth_secret"' in page
    assert f'<option value="{fmt}" selected>' in page, "the admin's choice is kept"
    assert "export-pw" not in page and "PRIVATE KEY" not in page
    wrong = staff_client.post(url, {"export_format": fmt, "export_password": "export-pw", "reauth_secret": "guess"})
    assert wrong.status_code == 400 and "That is neither your password nor a current code." in wrong.content.decode()
    assert "Content-Disposition" not in wrong and not KeyExport.objects.exists()
    done = staff_client.post(
        url, {"export_format": fmt, "export_password": "export-pw", "reauth_secret": "not-used-here"}
    )
    assert done.status_code == 200 and done["Content-Disposition"].startswith("attachment;")
    assert list(KeyExport.objects.values_list("export_format", flat=True)) == [fmt]
    # Confirmed: the next export within the window asks nothing.
    assert _export(staff_client, entry, "key").startswith(b"-----BEGIN PRIVATE KEY-----")


def test_public_exports_need_no_reauthentication(staff_client: Client, entry: Certificate) -> None:
    _session_older_than_the_window(staff_client)
    assert _export(staff_client, entry, "fullchain").startswith(b"-----BEGIN CERTIFICATE-----")


def test_the_window_is_configurable_and_a_login_starts_it(staff_client: Client, entry: Certificate, settings) -> None:
    assert _export(staff_client, entry, "key").startswith(b"-----BEGIN PRIVATE KEY-----")
    settings.CERTPANEL_REAUTH_SECONDS = 0
    asked = staff_client.post(f"/certificates/{entry.pk}/export/", {"export_format": "key"})
    assert "Confirm it's you" in asked.content.decode() and "Content-Disposition" not in asked
