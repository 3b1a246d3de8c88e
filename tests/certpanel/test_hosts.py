"""The panel answers only to its own names; ACME HTTP-01 challenges are answered whatever name the CA asks with."""

from __future__ import annotations

import http.client

import pytest
from django.test import Client

from certpanel.hostname import LOOPBACK_HOSTS, allowed_hosts

EVIL = "evil.example"


def test_the_hosts_are_the_given_names_else_the_panels_own_name_and_loopback_always() -> None:
    assert allowed_hosts(configured=[], hostname="mail.example.com", debug=False) == [
        "mail.example.com",
        *LOOPBACK_HOSTS,
    ]
    given = allowed_hosts(configured=["panel.example.com", "localhost"], hostname="mail.example.com", debug=False)
    assert given == ["panel.example.com", "localhost", "127.0.0.1", "[::1]"]


def test_a_wildcard_is_refused_outside_debug_and_allowed_in_a_lab() -> None:
    with pytest.raises(SystemExit, match=r"CERTPANEL_ALLOWED_HOSTS=\* would let the panel answer to any host name"):
        allowed_hosts(configured=["*"], hostname="mail.example.com", debug=False)
    assert "*" in allowed_hosts(configured=["*"], hostname="mail.example.com", debug=True)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/certificates/", "/health/", "/static/css/panel.css", "/admin/login/"])
def test_a_request_for_another_host_name_is_refused(client: Client, url: str) -> None:
    response = client.get(url, HTTP_HOST=EVIL)
    assert response.status_code == 400
    assert "does not answer to the host name" in response.content.decode() or url.startswith("/static/")


@pytest.mark.django_db
def test_a_post_for_another_host_name_is_refused_before_the_login_runs(client: Client) -> None:
    response = client.post("/login/", {"username": "admin", "password": "x"}, HTTP_HOST=EVIL)
    assert response.status_code == 400


@pytest.mark.django_db
def test_the_panel_answers_to_its_own_name_and_loopback(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    for host in (settings.CERTPANEL_HOSTNAME, "localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert client.get("/login/", HTTP_HOST=host).status_code == 200, host


@pytest.mark.django_db
def test_an_acme_challenge_is_answered_for_any_name(client: Client) -> None:
    # The CA asks with the name being validated: the view runs (404: no such token), no 400 for the Host.
    response = client.get("/.well-known/acme-challenge/some-token", HTTP_HOST="mail.customer.example")
    assert response.status_code == 404
    assert client.get("/.well-known/acme-challenge/x/y", HTTP_HOST=EVIL).status_code == 400  # not a challenge URL


def _get(port: int, path: str, host: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_live_server_refuses_another_host_name(live_server, transactional_db) -> None:  # type: ignore[no-untyped-def]
    port = int(live_server.url.rsplit(":", 1)[1])
    assert _get(port, "/login/", f"127.0.0.1:{port}") == 200
    assert _get(port, "/login/", EVIL) == 400
    assert _get(port, "/health/", EVIL) == 400
    assert _get(port, "/.well-known/acme-challenge/some-token", EVIL) == 404
