"""Settings → DNS providers: admins add, test and delete; operators and read-only users see the list (never a
secret) and cannot change it; bad input is a message next to its field and nothing is stored."""

from __future__ import annotations

import logging

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from repository.dns.providers import dns_provider_create
from repository.models import DnsProvider
from tests.repository.dns.conftest import DnsWorld
from tests.support.pebble import free_port

pytestmark = pytest.mark.django_db
PAGE = reverse("dns:list")
ADD = reverse("dns:add")


@pytest.fixture
def operator_client() -> Client:
    user = get_user_model().objects.create_user("oscar", password="x", is_staff=True, is_superuser=False)
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_adds_tests_and_deletes_a_provider(staff_client: Client, dns_world: DnsWorld) -> None:
    response = staff_client.post(ADD, {**dns_world.provider_fields("multi.test"), "note": "lab"}, follow=True)
    assert response.status_code == 200
    assert f"DNS provider for multi.test added: {dns_world.primary.server} serves the zone." in response.text
    provider = DnsProvider.objects.get()
    assert dns_world.key.secret not in response.text

    response = staff_client.post(reverse("dns:test", args=[provider.pk]))
    assert response.status_code == 200
    assert "Every nameserver of multi.test served the test record" in response.text
    assert "ns1.multi.test" in response.text and "ns2.multi.test" in response.text
    assert response.text.count("serves it") == 2
    assert dns_world.primary.txt("_acme-challenge.multi.test") == []

    response = staff_client.post(reverse("dns:delete", args=[provider.pk]), follow=True)
    assert "DNS provider for multi.test deleted." in response.text and not DnsProvider.objects.exists()


def test_the_test_button_shows_the_nameserver_that_never_serves(
    staff_client: Client, dns_world: DnsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("repository.dns.views.WEB_TEST_SECONDS", 1.0)
    provider = dns_provider_create(**dns_world.provider_fields("stale.test"))
    response = staff_client.post(reverse("dns:test", args=[provider.pk]))
    assert response.status_code == 200
    assert "After 1 s, 1 of 2 nameservers serve the record at _acme-challenge.stale.test" in response.text
    assert "ns3.stale.test" in response.text and "not served" in response.text
    assert dns_world.primary.txt("_acme-challenge.stale.test") == []  # removed even though the test failed


BAD_INPUT = [
    ({"tsig_secret": "%%% not base64"}, "tsig_secret", "The TSIG secret must be base64"),
    ({"zone": "nothere.test"}, "zone", "is not authoritative for zone nothere.test"),
    ({"tsig_secret": "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="}, "tsig_secret", "wrong secret or algorithm"),
    ({"server": "<img src=x onerror=alert(1)>"}, "server", "is not a DNS server"),
    ({"zone": "\u202eevil.test"}, "zone", "is not a valid zone name"),
    ({"zone": ""}, "zone", "This field is required."),
]


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_saved(staff_client: Client, dns_world: DnsWorld) -> None:
    for changes, field, message in BAD_INPUT:
        response = staff_client.post(ADD, {**dns_world.provider_fields("example.test"), **changes})
        assert response.status_code == 400 and not DnsProvider.objects.exists()
        errors = response.context["form"].errors
        assert any(message in error for error in errors[field]), (changes, errors)
        assert "<img src=x" not in response.text and dns_world.key.secret not in response.text


def test_an_unreachable_server_is_a_field_error(staff_client: Client, dns_world: DnsWorld) -> None:
    fields = {**dns_world.provider_fields("example.test"), "server": f"127.0.0.1:{free_port()}"}
    response = staff_client.post(ADD, fields)
    assert response.status_code == 400 and "refused the connection" in response.context["form"].errors["server"][0]


def test_operators_and_viewers_see_the_list_without_secrets_or_forms(
    operator_client: Client, viewer_client: Client, dns_world: DnsWorld
) -> None:
    provider = dns_provider_create(**dns_world.provider_fields("example.test"))
    for client in (operator_client, viewer_client):
        page = client.get(PAGE)
        assert page.status_code == 200 and "example.test" in page.text and dns_world.primary.server in page.text
        assert dns_world.key.secret not in page.text and "Add a DNS provider" not in page.text
        assert client.post(ADD, dns_world.provider_fields("multi.test")).status_code == 403
        for name in ("dns:test", "dns:delete"):
            assert client.post(reverse(name, args=[provider.pk])).status_code == 403
    assert list(DnsProvider.objects.values_list("zone", flat=True)) == ["example.test"]


def test_the_settings_page_links_to_dns_providers(staff_client: Client) -> None:
    assert PAGE in staff_client.get(reverse("settings")).text


def test_the_secret_is_nowhere_in_the_database_or_the_logs(
    staff_client: Client, dns_world: DnsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    staff_client.post(ADD, dns_world.provider_fields("example.test"))
    wrong = {**dns_world.provider_fields("multi.test"), "tsig_secret": "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="}
    staff_client.post(ADD, wrong)
    provider = DnsProvider.objects.get()
    staff_client.post(reverse("dns:test", args=[provider.pk]))
    chunks = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
            chunks += [bytes(v) if isinstance(v, memoryview | bytes) else str(v).encode() for r in cursor for v in r]
    stored = b"\n".join(chunks)
    for secret in (dns_world.key.secret.encode(), dns_world.tsig.secret, wrong["tsig_secret"].encode()):
        assert secret not in stored and secret.decode("latin-1") not in caplog.text
