from django.test import Client

from repository.models import Certificate, PrivateKey
from services.models import Listener


def _create(client: Client, host: str = "mail.example.com") -> Certificate:
    client.post("/certificates/new/self-signed/", {"hostname": host, "key_type": "ec256", "days": "30"})
    return Certificate.objects.get(name=host)


def test_delete_asks_for_confirmation_then_removes_certificate_and_key(staff_client: Client) -> None:
    entry = _create(staff_client)
    page = staff_client.get(f"/certificates/{entry.pk}/delete/")
    assert "cannot be undone" in page.content.decode()
    unconfirmed = staff_client.post(f"/certificates/{entry.pk}/delete/", {})
    assert "This field is required" in unconfirmed.content.decode() and Certificate.objects.exists()
    response = staff_client.post(f"/certificates/{entry.pk}/delete/", {"confirm": "on"})
    assert response.status_code == 302
    assert not Certificate.objects.exists() and not PrivateKey.objects.exists()


def test_delete_is_refused_while_a_service_uses_the_certificate(staff_client: Client) -> None:
    entry = _create(staff_client)
    Listener.objects.create(name="IMAPS", protocol="imaps", port=993, certificate=entry)
    page = staff_client.get(f"/certificates/{entry.pk}/delete/").content.decode()
    assert "used by IMAPS" in page
    staff_client.post(f"/certificates/{entry.pk}/delete/", {"confirm": "on"})
    assert Certificate.objects.filter(pk=entry.pk).exists()
    assert "IMAPS" in staff_client.get("/certificates/").content.decode()


def test_cli_delete_in_use_fails_with_the_service_names(cli) -> None:
    cli("certs", "selfsigned", "--name", "mail.example.com")
    entry = Certificate.objects.get()
    Listener.objects.create(name="SMTP", protocol="smtp", port=25, certificate=entry)
    Listener.objects.create(name="Submission", protocol="submission", port=587, certificate=entry)
    result = cli("certs", "delete", str(entry.pk))
    assert result.code == 1
    assert "used by SMTP, Submission" in result.error_line
    Listener.objects.all().delete()
    assert cli("certs", "delete", str(entry.pk)).code == 0
    assert not Certificate.objects.exists()


def test_viewer_cannot_delete(viewer_client: Client, staff_client: Client) -> None:
    entry = _create(staff_client)
    assert viewer_client.post(f"/certificates/{entry.pk}/delete/", {"confirm": "on"}).status_code == 403
    assert Certificate.objects.exists()
