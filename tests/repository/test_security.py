"""Login everywhere, staff-only changes, and no private key in plaintext in the database or logs."""

import logging

import pytest
from cryptography.hazmat.primitives import serialization
from django.apps import apps
from django.db import connection
from django.test import Client

from repository.models import Certificate
from repository.pki.match import public_key_matches
from tests.support.factories import CA, ec_key, key_pem, pem

PAGES = [
    "/certificates/",
    "/certificates/new/self-signed/",
    "/certificates/new/csr/",
    "/certificates/import/",
    "/toolbox/",
    "/certificates/1/",
    "/certificates/1/delete/",
    "/password/",
    "/admin/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_every_page_needs_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/certificates/1/export/", "/certificates/1/complete/"])
def test_every_action_needs_login(client: Client, url: str) -> None:
    response = client.post(url, {"export_format": "key"})
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_health_and_static_need_no_login(client: Client) -> None:
    health = client.get("/health/")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert client.get("/login/").status_code == 200


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/certificates/new/self-signed/", {"hostname": "x.example", "key_type": "ec256", "days": "1"}),
        ("/certificates/new/csr/", {"common_name": "x.example", "key_type": "ec256"}),
        ("/certificates/import/", {}),
    ],
)
def test_viewers_cannot_change_anything(viewer_client: Client, url: str, data: dict[str, str]) -> None:
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, data).status_code == 403
    assert not Certificate.objects.exists()


def _all_stored_bytes() -> bytes:
    chunks = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
            for row in cursor.fetchall():
                for value in row:
                    chunks.append(bytes(value) if isinstance(value, memoryview | bytes) else str(value).encode())
    return b"\n".join(chunks)


def test_no_private_key_is_stored_in_plaintext(staff_client: Client, ca: CA, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    staff_client.post(
        "/certificates/new/self-signed/", {"hostname": "a.example.com", "key_type": "rsa2048", "days": "9"}
    )
    staff_client.post("/certificates/new/csr/", {"common_name": "b.example.com", "key_type": "ec256"})
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["c.example.com"])
    staff_client.post(
        "/certificates/import/", {"certificate_text": pem(leaf).decode(), "key_text": key_pem(key).decode()}
    )
    entry = Certificate.objects.get(name="c.example.com")
    staff_client.post(f"/certificates/{entry.pk}/export/", {"export_format": "key"})
    assert Certificate.objects.count() == 3
    stored = _all_stored_bytes()
    assert b"PRIVATE KEY" not in stored
    secret_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    for needle in (secret_der, scalar, scalar.hex().encode(), key_pem(key)[40:100]):
        assert needle not in stored
    assert "PRIVATE KEY" not in caplog.text and scalar.hex() not in caplog.text
    # ...and yet the panel can use the key: it round-trips through the key-encryption key.
    from repository.actions import certificate_private_key

    loaded = certificate_private_key(entry, passphrase=None)
    assert public_key_matches(loaded, leaf)


@pytest.mark.django_db
def test_repeated_failed_logins_lock_the_account_out(client: Client, settings) -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("bob", password="right-password-123", is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "bob", "password": "wrong"})
    response = client.post("/login/", {"username": "bob", "password": "right-password-123"})
    assert "Too many failed logins" in response.content.decode()
