"""Registering an ACME account from the settings page (acme/registrations.py), tried as an attacker would: a
directory URL that hangs, points inside the network by address or by name, redirects there, or publishes a
`javascript:` Terms of Service. The request stores a row and returns; the worker asks the CA through the outbound
guard; the page shows a CA's links only when they are http(s)."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from repository.acme import client as acme_client
from repository.acme.client import AcmeSession
from repository.acme.problems import AcmeError
from repository.acme.registrations import MAX_ATTEMPTS, acme_registrations_resume
from repository.models import AcmeAccount, AcmeRegistration, PrivateKey
from repository.tasks import acme_account_register_task
from tests.support.factories import ec_key
from tests.support.outbound import Server, connect_attempts, http_server, listening

EVIL_TOS = "javascript:fetch('/certificates/1/export/',{method:'POST'})"


def _register(client: Client, directory_url: str, **fields: str) -> Any:
    form = {"preset": "custom", "directory_url": directory_url, "email": "ops@example.com", **fields}
    return client.post("/settings/acme-account/", form)


def _run(registration: AcmeRegistration | None = None) -> str:
    """What the worker runs for the newest registration."""
    row = registration or AcmeRegistration.objects.first()
    assert row is not None
    return str(acme_account_register_task.apply(args=[row.pk]).get())


def _hrefs(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', page)]


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> Any:
    headers = {"Content-Type": "application/json", "Replay-Nonce": "bm9uY2U", **headers}
    return lambda request: (status, headers, json.dumps(body).encode())


@pytest.fixture
def fake_directory(settings: Any) -> Iterator[Server]:
    """A CA that takes any newAccount (JWS unchecked) and publishes a `javascript:` Terms of Service."""
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    routes: dict[str, Any] = {}
    with http_server(routes) as server:
        directory = {"newNonce": f"{server.url}/nonce", "newAccount": f"{server.url}/acct", "newOrder": "x"}
        routes["/dir"] = _json({**directory, "meta": {"termsOfService": EVIL_TOS}})
        routes["/nonce"] = _json({})
        routes["/acct"] = _json({"status": "valid"}, 201, Location=f"{server.url}/acct/1")
        yield server


def test_a_hanging_directory_does_not_hold_the_request(
    staff_client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with listening() as hanging:  # accepts the handshake, never answers
        started = time.monotonic()
        response = _register(staff_client, f"http://127.0.0.1:{hanging.port}/dir", agree_tos="on")
        assert response.status_code == 302 and time.monotonic() - started < 1
        assert hanging.connections() == 0, "the request did not even connect"
        row = AcmeRegistration.objects.get()
        assert row.status == "queued" and row.key is not None and not AcmeAccount.objects.exists()
        page = staff_client.get(response["Location"]).content.decode()
        assert "registering</span>" in page and 'data-refresh="2"' in page and "js/refresh.js" in page
        assert "queued: a worker asks the CA" in page

        settings.CERTPANEL_ACME_TIMEOUT = 0.5
        monkeypatch.setattr(acme_client, "NETWORK_ATTEMPTS", 2)
        assert _run() == "failed"
        assert hanging.connections() >= 1
    row.refresh_from_db()
    assert row.error == f"directory: cannot reach the CA at http://127.0.0.1:{hanging.port}/dir: timed out"
    assert row.key is None and not PrivateKey.objects.exists(), "the unused key is gone"
    page = html.unescape(staff_client.get("/settings/").content.decode())
    assert "failed</span>" in page and "timed out" in page and "js/refresh.js" not in page


def test_a_directory_on_an_internal_address_is_refused_at_once(staff_client: Client, settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    for url in ("http://169.254.169.254/dir", "https://10.0.0.5:8443/dir", "https://[::ffff:192.168.1.1]/dir"):
        with connect_attempts() as attempts:
            response = _register(staff_client, url, agree_tos="on")
        assert response.status_code == 200 and "address not allowed" in response.content.decode()
        assert attempts == [] and not AcmeRegistration.objects.exists()
    response = _register(staff_client, "ftp://ca.example/dir")
    assert "Enter a valid URL" in response.content.decode() or "only http" in response.content.decode()


def test_a_directory_name_that_resolves_to_loopback_is_refused_by_the_worker(
    staff_client: Client, settings: Any
) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = []
    with listening() as witness, connect_attempts() as attempts:
        assert _register(staff_client, f"http://localhost:{witness.port}/dir", agree_tos="on").status_code == 302
        assert _run() == "failed"
        assert witness.connections() == 0 and attempts == []
    error = AcmeRegistration.objects.get().error
    assert error.endswith("address not allowed (an admin can allow it with CERTPANEL_OUTBOUND_ALLOW)")


def test_a_directory_redirecting_inside_the_network_is_refused(settings: Any) -> None:
    settings.CERTPANEL_OUTBOUND_ALLOW = ["127.0.0.1"]
    with listening("127.0.0.2") as internal:
        moved = f"http://127.0.0.2:{internal.port}/dir"
        with http_server({"/dir": lambda request: (301, {"Location": moved}, b"")}) as server:
            session = AcmeSession(directory_url=f"{server.url}/dir", account_key=ec_key())
            with pytest.raises(AcmeError, match="address not allowed") as refused:
                session.directory_info()
        assert internal.connections() == 0 and "127.0.0.2" not in str(refused.value)


def test_a_javascript_terms_of_service_is_never_a_link(staff_client: Client, fake_directory: Server) -> None:
    assert _register(staff_client, f"{fake_directory.url}/dir").status_code == 302
    assert _run() == "failed"
    page = staff_client.get("/settings/").content.decode()
    assert "asks you to agree to its Terms of Service" in page and "waiting for your agreement" in page
    assert "javascript:fetch(" in html.unescape(page) and "(not a web link)" in page  # shown, as text
    assert not [href for href in _hrefs(page) if not href.startswith(("/", "#", "http://", "https://"))]

    asked = AcmeRegistration.objects.get()
    assert staff_client.post(f"/certificates/acme-registrations/{asked.pk}/agree/").status_code == 302
    assert _run() == "registered"
    account = AcmeAccount.objects.get()
    assert account.terms_of_service == EVIL_TOS and account.uri == f"{fake_directory.url}/acct/1"
    assert AcmeRegistration.objects.first().account == account  # type: ignore[union-attr]
    page = staff_client.get("/settings/").content.decode()
    assert "registered</span>" in page and "javascript:" in html.unescape(page)
    assert not [href for href in _hrefs(page) if "javascript" in href.lower()]
    assert PrivateKey.objects.count() == 1, "the refused registration's key was removed, the account's kept"


def test_an_http_terms_of_service_is_a_link(staff_client: Client, account: AcmeAccount) -> None:
    account.terms_of_service = "https://ca.example/tos.pdf"
    account.save()
    page = staff_client.get("/settings/").content.decode()
    assert '<a href="https://ca.example/tos.pdf" rel="noreferrer noopener" target="_blank">agreed</a>' in page


def test_a_registration_no_worker_has_is_resumed_and_ends_after_a_few_attempts(
    staff_client: Client, settings: Any
) -> None:
    _register(staff_client, "https://ca.example/dir", agree_tos="on")
    row = AcmeRegistration.objects.get()
    now = timezone.now()
    AcmeRegistration.objects.update(dispatched_at=None)  # the broker was down
    assert acme_registrations_resume(now) == [row.pk] and acme_registrations_resume(now) == []
    assert acme_registrations_resume(now + timedelta(minutes=16)) == [row.pk]
    AcmeRegistration.objects.update(attempts=MAX_ATTEMPTS)  # every worker that took it died
    assert _run() == "failed" and _run() == "gone"
    assert "The worker stopped each time" in AcmeRegistration.objects.get().error


def test_the_eab_hmac_key_is_sealed_and_erased_when_the_registration_ends(
    staff_client: Client, fake_directory: Server
) -> None:
    hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    _register(staff_client, f"{fake_directory.url}/dir", agree_tos="on", eab_kid="kid-1", eab_hmac_key=hmac)
    row = AcmeRegistration.objects.get()
    assert row.eab_hmac_sealed and hmac.encode() not in bytes(row.eab_hmac_sealed)
    assert _run() == "registered"
    row.refresh_from_db()
    assert bytes(row.eab_hmac_sealed) == b"" and AcmeAccount.objects.get().eab_kid == "kid-1"


def test_viewers_cannot_register(viewer_client: Client) -> None:
    assert _register(viewer_client, "https://ca.example/dir", agree_tos="on").status_code == 403
    assert not AcmeRegistration.objects.exists()
