"""What comes after a certificate: renewing a self-signed one, a new CSR from a CA-issued one; and no dead ends
(GET on an action URL, a form error) on the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from django.test import Client

from repository.actions import certificate_create_self_signed, certificate_import
from repository.keystore import key_load
from repository.models import Certificate
from repository.pki.match import public_key_matches
from services.models import Listener, SniCertificate
from tests.support.factories import CA, ec_key, key_pem, pem

pytestmark = pytest.mark.django_db


def _leaf(entry: Certificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(entry.certificate_pem.encode())


def test_renew_self_signed_makes_a_linked_entry_with_the_same_names_and_asks_for_the_passphrase(
    staff_client: Client,
) -> None:
    old = certificate_create_self_signed(
        hostname="mail.example.com", sans=["imap.example.com"], key_type="ec384", days=30, passphrase=b"open sesame"
    )
    url = f"/certificates/{old.pk}/renew-self-signed/"
    assert f'href="{url}"' in staff_client.get(f"/certificates/{old.pk}/").content.decode()
    form = staff_client.get(url).content.decode()
    assert 'name="days"' in form and 'value="30"' in form and 'name="passphrase"' in form
    wrong = staff_client.post(url, {"days": "400", "passphrase": "guess"})
    assert wrong.status_code == 200 and "Wrong passphrase" in wrong.content.decode()
    assert 'class="field has-error"' in wrong.content.decode() and Certificate.objects.count() == 1

    done = staff_client.post(url, {"days": "400", "passphrase": "open sesame"})
    new = Certificate.objects.exclude(pk=old.pk).get()
    assert done.status_code == 302 and done["Location"] == f"/certificates/{new.pk}/"
    assert (new.name, new.sans, new.key_type, new.source) == (old.name, old.sans, "ec384", "self_signed")
    assert new.renewed_from == old and new.key_id != old.key_id
    assert abs(_leaf(new).not_valid_after_utc - datetime.now(UTC) - timedelta(days=400)) < timedelta(minutes=10)
    assert new.key is not None and new.key.has_passphrase
    assert public_key_matches(key_load(new.key, passphrase=b"open sesame"), _leaf(new))
    old_page = staff_client.get(f"/certificates/{old.pk}/").content.decode()
    assert f'Renewed by <a href="/certificates/{new.pk}/">' in old_page and url not in old_page
    assert f'Renewed from <a href="/certificates/{old.pk}/">' in staff_client.get(done["Location"]).content.decode()
    again = staff_client.post(url, {"days": "400", "passphrase": "open sesame"})
    assert f"already renewed by #{new.pk}" in again.content.decode() and Certificate.objects.count() == 2


def test_renew_self_signed_can_keep_the_key(staff_client: Client, viewer_client: Client) -> None:
    old = certificate_create_self_signed(hostname="mx.example.com", key_type="ec256")
    url = f"/certificates/{old.pk}/renew-self-signed/"
    assert viewer_client.post(url, {"days": "90", "keep_key": "on"}).status_code == 403
    assert staff_client.post(url, {"days": "90", "keep_key": "on"}).status_code == 302
    new = Certificate.objects.exclude(pk=old.pk).get()
    assert new.key_id == old.key_id and new.fingerprint_sha256 != old.fingerprint_sha256


@pytest.fixture
def issued(ca: CA) -> Certificate:
    """A CA-issued certificate imported with its key, with a full subject."""
    key = ec_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Ltd"),
            x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.com"),
        ]
    )
    now = datetime.now(UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=190))
        .not_valid_after(now + timedelta(days=10))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("mail.example.com"), x509.DNSName("smtp.example.com")]),
            critical=False,
        )
        .sign(ca.intermediate_key, hashes.SHA256())
    )
    return certificate_import(certificate_data=pem(leaf, ca.intermediate), key_data=key_pem(key)).certificate


@pytest.mark.parametrize("keep_key", [False, True])
def test_new_csr_from_a_ca_certificate_has_its_subject_and_names(
    staff_client: Client, issued: Certificate, keep_key: bool
) -> None:
    url = f"/certificates/{issued.pk}/new-csr/"
    assert f'href="{url}"' in staff_client.get(f"/certificates/{issued.pk}/").content.decode()
    form = staff_client.get(url).content.decode()
    assert "Public CAs may now issue at most" in form and 'name="passphrase"' not in form
    response = staff_client.post(url, {"keep_key": "on"} if keep_key else {})
    pending = Certificate.objects.get(renewed_from=issued)
    assert response.status_code == 302 and response["Location"] == f"/certificates/{pending.pk}/"
    csr = x509.load_pem_x509_csr(pending.csr_pem.encode())
    assert csr.subject == _leaf(issued).subject
    assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["mail.example.com", "smtp.example.com"]
    assert pending.is_pending and pending.source == "csr" and pending.name == issued.name
    assert (pending.key_id == issued.key_id) is keep_key
    assert (csr.public_key() == _leaf(issued).public_key()) is keep_key
    page = staff_client.get(response["Location"]).content.decode()
    assert "Public CAs may now issue at most" in page and f'Renewed from <a href="/certificates/{issued.pk}/">' in page


@pytest.mark.parametrize("suffix", ["export/", "complete/", "renew/"])
def test_get_on_an_action_url_goes_to_the_certificate_page(staff_client: Client, suffix: str) -> None:
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    response = staff_client.get(f"/certificates/{entry.pk}/{suffix}")
    assert response.status_code == 302 and response["Location"] == f"/certificates/{entry.pk}/"
    for url in ("/certificates/export/", "/certificates/delete-unused/"):
        assert staff_client.get(url)["Location"] == "/certificates/"
    # Renewing what cannot be renewed that way is no dead end either.
    assert staff_client.get(f"/certificates/{entry.pk}/new-csr/")["Location"] == f"/certificates/{entry.pk}/"


def test_an_export_error_shows_on_the_certificate_page_next_to_the_field(staff_client: Client) -> None:
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    url = f"/certificates/{entry.pk}/"
    page = staff_client.get(url).content.decode()
    assert f'<form method="post" action="{url}" class="form" id="export">' in page
    response = staff_client.post(url, {"form": "export", "export_format": "pkcs12", "export_password": ""})
    text = response.content.decode()
    assert response.status_code == 400 and "<h1>mail.example.com" in text
    field = text.split('id="id_export_password"')[1].split("</div>")[0]
    assert "Choose an export password" in field


def test_a_complete_error_shows_on_the_pending_page(staff_client: Client, ca: CA) -> None:
    created = staff_client.post("/certificates/new/csr/", {"common_name": "mail.example.com", "key_type": "ec256"})
    url = created["Location"]
    other = ca.issue(ec_key().public_key(), ["mail.example.com"])
    response = staff_client.post(url, {"form": "complete", "certificate_text": pem(other).decode()})
    text = response.content.decode()
    assert response.status_code == 400 and "does not match this CSR" in text and "Waiting for the CA" in text
    assert Certificate.objects.get().is_pending


@pytest.mark.parametrize(
    ("url", "field"), [("/certificates/new/self-signed/", "hostname"), ("/certificates/new/csr/", "common_name")]
)
def test_new_certificate_forms_start_with_the_panels_hostname(staff_client: Client, settings, url, field) -> None:  # type: ignore[no-untyped-def]
    page = staff_client.get(url).content.decode()
    assert f'name="{field}" value="{settings.CERTPANEL_HOSTNAME}"' in page


def test_the_certificate_page_links_each_use_to_its_service_and_shows_days_left(staff_client: Client) -> None:
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256", days=30)
    imaps = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, certificate=entry)
    smtps = Listener.objects.create(name="SMTPS", protocol="smtps", port=465)
    SniCertificate.objects.create(listener=smtps, server_name="mail.example.com", certificate=entry)
    page = staff_client.get(f"/certificates/{entry.pk}/").content.decode()
    assert f'<a href="/services/{imaps.pk}/">IMAPS</a>' in page
    assert f'<a href="/services/{smtps.pk}/">SMTPS (mail.example.com)</a>' in page
    assert "29 days left" in page.split('id="days-left"')[1].split("</p>")[0]
    assert f'href="/services/replace/?from={entry.pk}">Replace on all these services with…</a>' in page
    assert f'href="/services/replace/?certificate={entry.pk}">Use it on services…</a>' in page


def test_an_unused_certificate_offers_use_it_on_services_only(staff_client: Client, viewer_client: Client) -> None:
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    page = staff_client.get(f"/certificates/{entry.pk}/").content.decode()
    assert "Replace on all these services" not in page and "Use it on services…" in page
    assert "/services/replace/" not in viewer_client.get(f"/certificates/{entry.pk}/").content.decode()
