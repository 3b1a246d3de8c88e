import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from repository.models import Certificate
from services.models import Listener


def _rows(count: int, **overrides: object) -> list[Certificate]:
    now = timezone.now()
    rows = []
    for n in range(count):
        fields = {
            "name": f"host{n:05d}.example.com",
            "source": "imported",
            "common_name": f"host{n:05d}.example.com",
            "sans": [f"host{n:05d}.example.com"],
            "issuer": "Example CA",
            "serial": f"{n:08x}",
            "fingerprint_sha256": f"{n:064x}",
            "key_type": "ec256",
            "certificate_pem": "stored",
            "not_before": now - timedelta(days=1),
            "not_after": now + timedelta(days=60 + n % 5),
            "search_text": f"host{n:05d}.example.com example ca",
        }
        rows.append(Certificate(**{**fields, **overrides}))
    return Certificate.objects.bulk_create(rows)


@pytest.mark.django_db
def test_status_badges_follow_expiry(staff_client: Client) -> None:
    now = timezone.now()
    _rows(1, name="valid.example", not_after=now + timedelta(days=80))
    _rows(1, name="soon.example", not_after=now + timedelta(days=10), fingerprint_sha256="a" * 64)
    _rows(1, name="old.example", not_after=now - timedelta(days=1), fingerprint_sha256="b" * 64)
    _rows(1, name="csr.example", not_after=None, not_before=None, certificate_pem="", fingerprint_sha256="")
    page = staff_client.get("/certificates/").content.decode()
    for badge in ("Valid", "Expiring soon", "Expired", "Pending CSR"):
        assert f">{badge}</span>" in page
    only_expiring = staff_client.get("/certificates/?status=expiring").content.decode()
    assert "soon.example" in only_expiring and "valid.example" not in only_expiring


@pytest.mark.django_db
def test_search_matches_names_and_issuer_and_paginates(staff_client: Client) -> None:
    _rows(120)
    first = staff_client.get("/certificates/").content.decode()
    assert "Page 1 of 3" in first and "120 certificates" in first
    found = staff_client.get("/certificates/?q=HOST00042").content.decode()
    assert "host00042.example.com" in found and "host00043" not in found
    assert "No certificate matches" in staff_client.get("/certificates/?q=nothing-like-this").content.decode()
    assert "host00119" in staff_client.get("/certificates/?page=3").content.decode()


def _page_queries(client: Client) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/certificates/?page=1")
    assert response.status_code == 200
    return [q["sql"] for q in queries]


@pytest.mark.django_db
def test_list_with_10000_rows_uses_the_same_queries_as_with_ten(staff_client: Client) -> None:
    rows = _rows(10)
    Listener.objects.create(name="listener-small", protocol="imaps", port=9999, certificate=rows[0])
    _page_queries(staff_client)  # first page view of a fresh install creates the settings row
    small = _page_queries(staff_client)
    Listener.objects.all().delete()
    Certificate.objects.all().delete()
    rows = _rows(10_000)
    for n in range(0, 50, 5):
        Listener.objects.create(name=f"listener-{n}", protocol="imaps", port=10000 + n, certificate=rows[n])
    large = _page_queries(staff_client)
    assert "listener-45" in staff_client.get("/certificates/?page=1").content.decode()
    # No query per row: the page costs what it costs with ten entries.
    assert len(large) == len(small), large
    assert not any("certificate_pem" in q or "sealed_pem" in q for q in large)


def test_cli_list_and_show(cli) -> None:
    cli("certs", "selfsigned", "--name", "b.example.com")
    cli("certs", "selfsigned", "--name", "a.example.com")
    listed = json.loads(cli("certs", "list", "--json").out)
    assert [item["name"] for item in listed] == ["a.example.com", "b.example.com"]
    table = cli("certs", "list").out
    assert "a.example.com" in table and "valid" in table
    shown = cli("certs", "show", str(listed[0]["id"]), "--json")
    assert json.loads(shown.out) == listed[0]
    text = cli("certs", "show", str(listed[0]["id"])).out
    assert "fingerprint_sha256:" in text
    missing = cli("certs", "show", "4242")
    assert missing.code == 1 and missing.error_line == "error: There is no certificate #4242."
