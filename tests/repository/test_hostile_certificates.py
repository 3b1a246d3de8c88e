"""Certificates from the wild that crash naive parsers — an unsupported key type (GOST), x400Address and
ediPartyName SANs, a malformed issuer encoding — on every page and command that reads certificates: never a 500 or a
traceback, always the sentence saying what the panel cannot read (or the page showing what it can).

The certificates are made at test time by patching DER (tests/support/hostile.py); each is signed by the test CA's
intermediate, so nothing but the hostile part is wrong with it.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.test import Client
from django.utils import timezone

from repository import actions
from repository.models import Certificate, CertificateSource, PrivateKey
from repository.pki.generate import SubjectFields
from tests.support import hostile
from tests.support.factories import CA, der, ec_key, key_pem, pem

LABELS = ["unsupported key", "x400Address SAN", "ediPartyName SAN", "malformed issuer"]


@pytest.fixture(scope="module")
def hostile_certs(ca: CA) -> dict[str, tuple[x509.Certificate, str]]:
    return hostile.hostile_certificates(ca)


def _page(response: object) -> str:
    status = response.status_code  # type: ignore[attr-defined]
    body = html.unescape(response.content.decode())  # type: ignore[attr-defined]
    assert status < 500 and "Traceback" not in body, f"status {status}"
    return body


def _tool(client: Client, tool: str, **fields: object) -> object:
    return client.post("/toolbox/", {"tool": tool, **{f"{tool}-{k}": v for k, v in fields.items()}})


@pytest.mark.parametrize("label", LABELS)
def test_web_import_names_what_it_cannot_read(staff_client: Client, hostile_certs: dict, ca: CA, label: str) -> None:
    cert, message = hostile_certs[label]
    body = _page(
        staff_client.post(
            "/certificates/import/",
            {"certificate_text": pem(cert).decode(), "chain_text": pem(ca.intermediate).decode()},
        )
    )
    assert message in body
    assert not Certificate.objects.exists() and not PrivateKey.objects.exists()


@pytest.mark.parametrize("label", LABELS)
def test_web_import_as_a_chain_certificate_names_it(
    staff_client: Client, hostile_certs: dict, ca: CA, label: str
) -> None:
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["mail.example.com"])
    fields = {
        "certificate_text": pem(leaf).decode(),
        "key_text": key_pem(key).decode(),
        "chain_text": pem(ca.intermediate, hostile_certs[label][0]).decode(),
    }
    body = _page(staff_client.post("/certificates/import/", fields))
    assert "Certificate 3 of 3" in body and hostile_certs[label][1] in body
    assert not Certificate.objects.exists()


@pytest.mark.parametrize("label", LABELS)
def test_toolbox_decode_and_verify_show_what_they_can(
    viewer_client: Client, hostile_certs: dict, ca: CA, label: str
) -> None:
    cert, message = hostile_certs[label]
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    decoded = _page(_tool(viewer_client, "decode", data_text=pem(cert).decode()))
    assert "cannot be shown: This certificate" in decoded and message in decoded
    assert fingerprint in decoded
    verified = _page(_tool(viewer_client, "verify", data_text=pem(ca.intermediate, cert).decode()))
    assert message in verified and fingerprint in verified


@pytest.mark.parametrize("label", LABELS)
def test_toolbox_match_and_convert_never_fail_raw(viewer_client: Client, hostile_certs: dict, label: str) -> None:
    cert, message = hostile_certs[label]
    key = key_pem(ec_key()).decode()
    matched = _page(_tool(viewer_client, "match", key_text=key, other_text=pem(cert).decode()))
    assert message in matched if label == "unsupported key" else "does NOT match" in matched
    converted = _tool(viewer_client, "convert", data_text=pem(cert).decode(), to="der")
    assert converted.status_code == 200 and converted.content == der(cert)  # type: ignore[attr-defined]
    p12 = _page(_tool(viewer_client, "convert", data_text=pem(cert).decode() + key, to="pkcs12", password="pw"))
    assert "None of the certificates matches the private key" in p12
    if label == "unsupported key":
        assert message in p12


@pytest.mark.parametrize("label", LABELS)
def test_csr_completion_names_what_it_cannot_read(staff_client: Client, hostile_certs: dict, label: str) -> None:
    entry = actions.certificate_create_csr(subject=SubjectFields(common_name="pending.example.com"))
    cert, message = hostile_certs[label]
    response = staff_client.post(f"/certificates/{entry.pk}/complete/", {"certificate_text": pem(cert).decode()})
    assert response.status_code == 400 and message in _page(response)
    assert Certificate.objects.get(pk=entry.pk).is_pending


def _stored(cert: x509.Certificate, ca: CA) -> Certificate:
    """A row as an older panel (which did not refuse such certificates) would have stored it."""
    return Certificate.objects.create(
        name="stored-hostile",
        source=CertificateSource.IMPORTED,
        certificate_pem=pem(cert).decode(),
        chain_pem=pem(ca.intermediate).decode(),
        common_name="stored-hostile.example.com",
        not_before=timezone.now(),
        not_after=timezone.now() + timezone.timedelta(days=30),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        search_text="stored-hostile",
    )


@pytest.mark.parametrize("label", LABELS)
def test_detail_and_list_pages_of_a_stored_one(staff_client: Client, hostile_certs: dict, ca: CA, label: str) -> None:
    cert, message = hostile_certs[label]
    entry = _stored(cert, ca)
    detail = _page(staff_client.get(f"/certificates/{entry.pk}/"))
    assert "Cannot be read in full" in detail and message in detail
    assert cert.fingerprint(hashes.SHA256()).hex() in detail  # what can be read is still shown
    listed = _page(staff_client.get("/certificates/"))
    assert "stored-hostile" in listed


@pytest.fixture
def cli_file(cli: Callable[..., object], write_file: Callable[[str, bytes], str]) -> Callable[[x509.Certificate], str]:
    return lambda cert: write_file("hostile.pem", pem(cert))


@pytest.mark.parametrize("label", LABELS)
def test_cli_import_exits_with_one_line(cli, cli_file, hostile_certs: dict, label: str) -> None:  # type: ignore[no-untyped-def]
    cert, message = hostile_certs[label]
    result = cli("certs", "import", "--cert", cli_file(cert))
    assert result.code != 0
    assert result.err.count("\n") == 1 and result.err.startswith("error: ") and message in result.err
    assert "Traceback" not in result.err + result.out and "unexpected failure" not in result.err
    assert not Certificate.objects.exists()


@pytest.mark.parametrize("label", LABELS)
def test_cli_complete_exits_with_one_line(cli, cli_file, hostile_certs: dict, label: str) -> None:  # type: ignore[no-untyped-def]
    entry = actions.certificate_create_csr(subject=SubjectFields(common_name="pending.example.com"))
    cert, message = hostile_certs[label]
    result = cli("certs", "complete", str(entry.pk), "--cert", cli_file(cert))
    assert result.code != 0 and result.err.count("\n") == 1 and message in result.err


def test_cli_show_and_list_of_a_stored_one(cli, hostile_certs: dict, ca: CA) -> None:  # type: ignore[no-untyped-def]
    entry = _stored(hostile_certs["unsupported key"][0], ca)
    assert cli("certs", "show", str(entry.pk)).code == 0
    listed = cli("certs", "list")
    assert listed.code == 0 and "stored-hostile" in listed.out
