"""The gates as `make run` serves them: gunicorn started with the launcher's own command line, raw HTTP to it."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certpanel.launcher import children
from certpanel.middleware import CONTENT_SECURITY_POLICY
from tests.support.processes import child_env, database_url_for_children, free_port, start, stop, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def gunicorn(tmp_path: Path, transactional_db: None) -> Iterator[int]:
    port = free_port()
    group = children(
        listen=f"127.0.0.1:{port}", web_workers=1, beat_schedule="unused", control_socket=str(tmp_path / "g.ctl")
    )
    [web] = [child for child in group if child.name == "web"]
    env = child_env(DATABASE_URL=database_url_for_children(), CERTPANEL_HOSTNAME="mail.example.org")
    log = tmp_path / "gunicorn.log"
    process = start(web.argv[1:], env, log)
    try:
        wait_for(lambda: _request(port, "GET", "/login/")[0] == 200, timeout=60, what="gunicorn", log=log)
        yield port
    finally:
        stop(process)


def _request(port: int, method: str, path: str, host: str = "") -> tuple[int, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", host or f"127.0.0.1:{port}")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders())
    except OSError:
        return 0, {}
    finally:
        connection.close()


def test_gunicorn_serves_the_policy_and_refuses_other_host_names(gunicorn: int) -> None:
    status, headers = _request(gunicorn, "GET", "/login/")
    assert status == 200 and headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert _request(gunicorn, "GET", "/login/", host="evil.example")[0] == 400
    assert _request(gunicorn, "GET", "/static/css/panel.css", host="evil.example")[0] == 400
    # HTTP-01: the CA asks with the certificate's name; the view answers (no such token here).
    assert _request(gunicorn, "GET", "/.well-known/acme-challenge/tok", host="mail.customer.example")[0] == 404


def test_gunicorn_refuses_a_100_mb_anonymous_upload_before_reading_it(gunicorn: int) -> None:
    head = (
        f"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1:{gunicorn}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n--x\r\n"
    ).encode()
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", gunicorn), timeout=10) as connection:
        connection.sendall(head)
        reply = connection.makefile("rb")
        status_line = reply.readline()
        rest = reply.read()  # the server closes the connection: nothing waits for the other 100 MB
    assert status_line.split()[1] == b"413" and b"The request was too large" in rest
    assert time.monotonic() - began < 5
