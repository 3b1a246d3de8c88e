import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.test import Client

from repository.actions import certificate_create_self_signed
from repository.models import Certificate, PrivateKey
from repository.selectors import certificate_get, certificate_list, certificate_status


def _leaf(entry: Certificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(entry.certificate_pem.encode())


def test_web_creates_self_signed_certificate_named_after_the_host(staff_client: Client) -> None:
    response = staff_client.post(
        "/certificates/new/self-signed/",
        {"hostname": "Mail.Example.COM", "sans": "imap.example.com\n192.0.2.7", "key_type": "ec256", "days": "30"},
    )
    entry = Certificate.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/certificates/{entry.pk}/"
    assert entry.name == entry.common_name == "mail.example.com"
    assert entry.sans == ["mail.example.com", "imap.example.com", "192.0.2.7"]
    assert entry.source == "self_signed" and entry.key_type == "ec256"
    leaf = _leaf(entry)
    assert ExtendedKeyUsageOID.SERVER_AUTH in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert abs(leaf.not_valid_after_utc - datetime.now(UTC) - timedelta(days=30)) < timedelta(minutes=10)
    page = staff_client.get(f"/certificates/{entry.pk}/").content.decode()
    assert "mail.example.com" in page and entry.fingerprint_sha256 in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hostname", "exa mple.com", "is not a valid hostname"),
        ("hostname", "", "This field is required"),
        ("sans", "ok.example.com bad..name", "is not a valid hostname"),
        ("days", "0", "greater than or equal to 1"),
        ("days", "99999", "less than or equal to 3650"),
        ("key_type", "dsa1024", "Select a valid choice"),
    ],
)
def test_web_self_signed_rejects_bad_input_and_stores_nothing(
    staff_client: Client, field: str, value: str, message: str
) -> None:
    data = {"hostname": "mail.example.com", "key_type": "rsa2048", "days": "365", field: value}
    response = staff_client.post("/certificates/new/self-signed/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Certificate.objects.exists() and not PrivateKey.objects.exists()


def test_web_self_signed_passphrases_must_agree(staff_client: Client) -> None:
    data = {
        "hostname": "mail.example.com",
        "key_type": "rsa2048",
        "days": "365",
        "passphrase": "one-phrase",
        "passphrase_confirm": "another",
    }
    response = staff_client.post("/certificates/new/self-signed/", data)
    assert "The two passphrases differ." in response.content.decode()
    assert not Certificate.objects.exists()


def test_passphrase_protected_key_is_asked_for_on_export(staff_client: Client) -> None:
    staff_client.post(
        "/certificates/new/self-signed/",
        {
            "hostname": "mail.example.com",
            "key_type": "ec256",
            "days": "365",
            "passphrase": "correct horse",
            "passphrase_confirm": "correct horse",
        },
    )
    entry = Certificate.objects.get()
    assert entry.key.has_passphrase
    url = f"/certificates/{entry.pk}/export/"
    missing = staff_client.post(url, {"export_format": "key"})
    assert missing.status_code == 400 and "protected by a passphrase" in missing.content.decode()
    wrong = staff_client.post(url, {"export_format": "key", "passphrase": "wrong"})
    assert "Wrong passphrase" in wrong.content.decode()
    right = staff_client.post(url, {"export_format": "key", "passphrase": "correct horse"})
    assert right.status_code == 200 and b"BEGIN PRIVATE KEY" in right.content
    # The public parts need no passphrase.
    assert staff_client.post(url, {"export_format": "pem"}).status_code == 200


def test_cli_selfsigned_prints_the_documented_json(cli, write_file) -> None:
    phrase = write_file("phrase", b"a passphrase\n")
    result = cli(
        "certs",
        "selfsigned",
        "--name",
        "mail.example.com",
        "--san",
        "smtp.example.com",
        "--key-type",
        "rsa3072",
        "--days",
        "90",
        "--passphrase-file",
        phrase,
        "--json",
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    for key in (
        "id",
        "name",
        "common_name",
        "sans",
        "source",
        "status",
        "not_before",
        "not_after",
        "serial",
        "issuer",
        "key_type",
        "fingerprint_sha256",
        "services",
    ):
        assert key in data
    assert data["sans"] == ["mail.example.com", "smtp.example.com"]
    assert data["source"] == "self_signed" and data["status"] == "valid" and data["key_type"] == "rsa3072"
    assert data["not_after"].endswith("Z") and len(data["fingerprint_sha256"]) == 64
    assert Certificate.objects.get(pk=data["id"]).key.has_passphrase


def test_cli_selfsigned_bad_hostname_is_one_error_line(cli) -> None:
    result = cli("certs", "selfsigned", "--name", "bad host!")
    assert result.code == 1
    assert result.err.strip() == "error: 'bad host!' is not a valid hostname."
    assert "Traceback" not in result.err
    assert not Certificate.objects.exists()


def test_first_start_creates_the_default_certificate_once(cli, settings) -> None:
    settings.CERTPANEL_HOSTNAME = "panel.example.net"
    first = cli("bootstrap")
    assert "password:" in first.out
    assert cli("bootstrap").out == ""
    entry = Certificate.objects.get()
    assert entry.is_default and entry.name == "panel.example.net" and entry.source == "self_signed"


@pytest.mark.django_db
@pytest.mark.parametrize("days", [1, 7, 30, 365])
def test_a_short_lived_certificate_is_not_expiring_from_the_moment_it_is_issued(days: int) -> None:
    entry = certificate_create_self_signed(hostname=f"short{days}.example.org", days=days)
    assert certificate_status(certificate_get(entry.pk)) == "valid"
    assert [e.pk for e in certificate_list(status="expiring")] == []


@pytest.mark.django_db
def test_a_short_lived_certificate_turns_expiring_once_its_renewal_window_opens() -> None:
    entry = certificate_create_self_signed(hostname="week.example.org", days=7)
    later = entry.not_after - timedelta(days=3)  # 7-day lifetime: renewal (and "expiring") at 3.5 days left
    assert [e.pk for e in certificate_list(status="expiring", now=later)] == [entry.pk]
    assert [e.pk for e in certificate_list(status="expiring", now=later - timedelta(days=1))] == []
