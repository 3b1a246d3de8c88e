"""AIA "CA Issuers" fetches (repository/chain_fetches.py, repository/aia.py) tried as an attacker would: a certificate
whose AIA URL points at the cloud metadata address, at loopback, or at a server that redirects elsewhere. Import
stores the entry at once and fetches nothing; the worker's fetch is refused without a connection leaving."""

from __future__ import annotations

import html
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from repository import aia
from repository.chain_fetches import MAX_ATTEMPTS, chain_fetches_resume
from repository.models import Certificate, ChainFetch
from repository.tasks import certificate_chain_fetch_task
from tests.support.factories import CA, der, ec_key, pem
from tests.support.outbound import connect_attempts, http_server, listening


def _import(client: Client, ca: CA, aia_url: str) -> tuple[Certificate, str]:
    leaf = ca.issue(ec_key().public_key(), ["mail.example.com"], aia_url=aia_url)
    started = time.monotonic()
    response = client.post("/certificates/import/", {"certificate_text": pem(leaf).decode()}, follow=True)
    assert response.status_code == 200 and time.monotonic() - started < 2
    return Certificate.objects.get(), html.unescape(response.content.decode())


def _notes(client: Client, entry: Certificate) -> str:
    page = html.unescape(client.get(f"/certificates/{entry.pk}/").content.decode())
    return next(line for line in page.splitlines() if 'id="chain-fetch-notes"' in line)


def test_import_stores_at_once_and_fetches_nothing_in_the_request(staff_client: Client, ca: CA, settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with http_server({"/int.der": lambda request: (200, {}, der(ca.intermediate))}) as server:
        with connect_attempts() as attempts:
            entry, page = _import(staff_client, ca, f"{server.url}/int.der")
        assert attempts == [] and server.paths == [], "the request fetched nothing"
        assert "the panel is fetching it" in page and entry.chain_pem == ""
        assert ChainFetch.objects.get(certificate=entry).status == "queued"
        assert certificate_chain_fetch_task.apply(args=[entry.pk]).get() == "done"
    entry.refresh_from_db()
    assert entry.chain_pem.encode() == pem(ca.intermediate)
    assert "Added the intermediate 'Test Intermediate CA'" in _notes(staff_client, entry)


def test_an_aia_url_on_the_metadata_address_is_refused_without_a_connection(
    staff_client: Client, ca: CA, settings: Any
) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]  # loopback allowed: the metadata address still is not
    with connect_attempts() as attempts:
        entry, _ = _import(staff_client, ca, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
        assert certificate_chain_fetch_task.apply(args=[entry.pk]).get() == "failed"
    assert attempts == []
    notes = _notes(staff_client, entry)
    assert "the CA Issuers URL could not be fetched: address not allowed" in notes
    assert "169.254" not in notes and "is missing: upload it as the chain" in notes


def test_an_aia_url_on_loopback_is_refused_unless_allow_listed(staff_client: Client, ca: CA, settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = []
    with listening() as witness, connect_attempts() as attempts:
        for host in ("127.0.0.1", "localhost"):
            entry, _ = _import(staff_client, ca, f"http://{host}:{witness.port}/int.der")
            assert certificate_chain_fetch_task.apply(args=[entry.pk]).get() == "failed"
            assert "could not be fetched: address not allowed" in _notes(staff_client, entry)
            entry.delete()
        assert witness.connections() == 0 and attempts == []

        settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]  # now the admin allows it: the worker connects
        entry, _ = _import(staff_client, ca, f"http://127.0.0.1:{witness.port}/int.der")
        settings.CERTPANEL_AIA_TIMEOUT = 1
        assert certificate_chain_fetch_task.apply(args=[entry.pk]).get() == "failed"
        assert witness.connections() == 1 and "could not be fetched: timed out" in _notes(staff_client, entry)


def test_an_aia_redirect_to_another_host_is_not_followed(staff_client: Client, ca: CA, settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    with listening("127.0.0.2") as elsewhere:
        target = f"http://127.0.0.2:{elsewhere.port}/int.der"
        with http_server({"/int.der": lambda request: (301, {"Location": target}, b"")}) as server:
            entry, _ = _import(staff_client, ca, f"{server.url}/int.der")
            assert certificate_chain_fetch_task.apply(args=[entry.pk]).get() == "failed"
            assert server.paths == ["/int.der"]
        assert elsewhere.connections() == 0
    assert "could not be fetched: it redirects to another host" in _notes(staff_client, entry)
    entry.refresh_from_db()
    assert entry.chain_pem == ""


def test_the_page_follows_a_queued_fetch_and_stops_when_it_ends(staff_client: Client, ca: CA, settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = []
    entry, page = _import(staff_client, ca, "http://10.0.0.5:8080/int.der")
    assert 'data-refresh="2"' in page and "js/refresh.js" in page and 'id="chain" data-live' in page
    certificate_chain_fetch_task.apply(args=[entry.pk]).get()
    page = staff_client.get(f"/certificates/{entry.pk}/").content.decode()
    assert "data-refresh" not in page and "js/refresh.js" not in page
    assert "10.0.0.5" not in _notes(staff_client, entry) and "8080" not in _notes(staff_client, entry)


def test_a_fetch_no_worker_has_is_resumed_and_ends_after_a_few_attempts(
    staff_client: Client, ca: CA, settings: Any
) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = []
    entry, _ = _import(staff_client, ca, "http://10.0.0.5/int.der")
    now = timezone.now()
    ChainFetch.objects.update(dispatched_at=None)  # the broker was down
    assert chain_fetches_resume(now) == [entry.pk] and chain_fetches_resume(now) == []
    assert chain_fetches_resume(now + timedelta(minutes=6)) == [entry.pk]  # handed over, never run: again
    ChainFetch.objects.update(attempts=MAX_ATTEMPTS)  # every worker that took it died
    assert certificate_chain_fetch_task.apply(args=[entry.pk]).get() == "failed"
    assert "upload the intermediate certificate yourself" in _notes(staff_client, entry)
    assert certificate_chain_fetch_task.apply(args=[entry.pk]).get() == "gone"


def test_no_fetch_is_queued_when_aia_fetching_is_off(staff_client: Client, ca: CA, settings: Any) -> None:
    settings.CERTPANEL_AIA_FETCH = False
    entry, page = _import(staff_client, ca, "http://ca.example.test/int.der")
    assert not ChainFetch.objects.exists() and "is missing: upload it as the chain" in page
    assert entry.chain_pem == ""


def test_a_fetch_for_an_entry_changed_meanwhile_leaves_its_chain_alone(
    staff_client: Client, ca: CA, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    real = aia.complete_chain

    def slow_download(*args: Any, **kwargs: Any) -> aia.Completion:
        completion = real(*args, **kwargs)
        Certificate.objects.update(chain_pem=pem(ca.root).decode())  # meanwhile another upload won
        return completion

    monkeypatch.setattr(aia, "complete_chain", slow_download)
    with http_server({"/int.der": lambda request: (200, {}, der(ca.intermediate))}) as server:
        entry, _ = _import(staff_client, ca, f"{server.url}/int.der")
        assert certificate_chain_fetch_task.apply(args=[entry.pk]).get() == "done"
        assert server.paths == ["/int.der"]
    entry.refresh_from_db()
    assert entry.chain_pem.encode() == pem(ca.root)
