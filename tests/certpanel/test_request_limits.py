"""A body over the limit is refused from its Content-Length, before the CSRF check or the multipart parser reads
it; gunicorn kills a request that takes longer than its timeout."""

from __future__ import annotations

import shlex
import socket
import time
from pathlib import Path

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser
from django.test import Client

from certpanel.launcher import WEB_TIMEOUT, children

ROOT = Path(__file__).resolve().parents[2]
HUNDRED_MB = 100 * 1024 * 1024


@pytest.fixture
def no_multipart_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the multipart parser ran")

    monkeypatch.setattr(MultiPartParser, "parse", refuse)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/certificates/import/", "/toolbox/"])
def test_an_anonymous_100_mb_multipart_body_is_refused_unread(
    client: Client, no_multipart_parsing: None, url: str
) -> None:
    # Only a few bytes are there: the test client's payload raises if anything tries to read past them.
    response = client.generic(
        "POST",
        url,
        b'--x\r\nContent-Disposition: form-data; name="f"; filename="big"\r\n\r\n',
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(HUNDRED_MB),
    )
    assert response.status_code == 413  # not 403 (CSRF) and not 302 (login): nothing looked at the body
    assert "The request was too large" in response.content.decode()


def test_a_logged_in_upload_over_the_limit_is_refused_with_the_limits(staff_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    too_big = b"x" * (settings.CERTPANEL_MAX_REQUEST_BYTES + 1)
    response = staff_client.post("/toolbox/", too_big, content_type="application/octet-stream")
    page = response.content.decode()
    assert response.status_code == 413 and "at most 4.0625 MB per request" in page and "1 MB per file" in page


def test_a_body_within_the_limit_reaches_the_form(staff_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.CERTPANEL_MAX_REQUEST_BYTES == 4 * settings.CERTPANEL_MAX_UPLOAD_BYTES + 64 * 1024
    upload = SimpleUploadedFile("big.pem", b"x" * (3 * settings.CERTPANEL_MAX_UPLOAD_BYTES))
    response = staff_client.post("/toolbox/", {"tool": "decode", "decode-data_file": upload})
    # The form saw it, and says the file is over the per-file limit.
    assert response.status_code == 400 and "repository/toolbox.html" in [t.name for t in response.templates]


def test_a_live_server_answers_413_without_waiting_for_the_body(live_server, transactional_db) -> None:  # type: ignore[no-untyped-def]
    host, port = live_server.url.removeprefix("http://").rsplit(":", 1)
    head = (
        f"POST /login/ HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {HUNDRED_MB}\r\n\r\n--x\r\n"
    ).encode()
    began = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head)  # and not one byte more of the 100 MB
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1] == b"413"
    assert time.monotonic() - began < 5


def _gunicorn_timeout(argv: list[str]) -> int:
    return int(argv[argv.index("--timeout") + 1])


def test_every_way_of_running_gunicorn_sets_the_same_explicit_timeout() -> None:
    group = children(listen="127.0.0.1:1", web_workers=1, beat_schedule="b", control_socket="/d/g.ctl")
    [web] = [child for child in group if child.name == "web"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    [dockerfile_cmd] = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    image = yaml.safe_load(dockerfile_cmd.removeprefix("CMD "))
    assert _gunicorn_timeout(web.argv) == _gunicorn_timeout(shlex.split(compose[-1])) == WEB_TIMEOUT
    assert _gunicorn_timeout(image) == WEB_TIMEOUT == 30
