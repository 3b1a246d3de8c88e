"""Uploads built to keep a web worker busy: a megabyte of certificates sharing one subject (quadratic chain
ordering took minutes), a chain of same-named certificates, a PKCS#12 claiming ten million password-hashing
iterations (5.8 s before the cap). Each is answered with a clear message in under two seconds, on the toolbox,
the web import and the CLI import, and nothing is stored.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from repository.models import Certificate
from repository.pki.convert import to_pkcs12
from tests.support import hostile
from tests.support.factories import CA, ec_key, pem

SECONDS = 2.0
TOO_MANY = "certificates; the panel reads at most 100 at a time"
SAME_NAME = "too many of them share the name 'same-chain.example.com'"
TOO_COSTLY = "This PKCS#12 file hashes its password 10,000,000 times; the panel opens files of up to 200,000"


@pytest.fixture(scope="module")
def megabyte() -> bytes:
    bundle = hostile.same_subject_bundle()
    assert 1_000_000 < len(bundle) <= 1024 * 1024
    return bundle


@pytest.fixture(scope="module")
def same_name_chain() -> bytes:
    chain = hostile.same_name_chain(100)
    return pem(chain[0], *reversed(chain[1:]))


@pytest.fixture(scope="module")
def costly_p12(ca: CA) -> bytes:
    key = ec_key()
    p12 = to_pkcs12(name="m", key=key, cert=ca.issue(key.public_key(), ["p12.example.com"]), chain=[], password=b"pw")
    return hostile.with_pkcs12_mac_iterations(p12, 10_000_000)


def _timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _body(response: object) -> str:
    assert response.status_code < 500  # type: ignore[attr-defined]
    return html.unescape(response.content.decode())  # type: ignore[attr-defined]


def _tool(client: Client, tool: str, **fields: object) -> object:
    return client.post("/toolbox/", {"tool": tool, **{f"{tool}-{k}": v for k, v in fields.items()}})


@pytest.mark.parametrize(("bundle", "message"), [("megabyte", TOO_MANY), ("same_name_chain", SAME_NAME)])
def test_toolbox_verify_answers_in_time(
    viewer_client: Client, request: pytest.FixtureRequest, bundle: str, message: str
) -> None:
    data = request.getfixturevalue(bundle)
    response, elapsed = _timed(lambda: _tool(viewer_client, "verify", data_file=SimpleUploadedFile("b.pem", data)))
    assert response.status_code == 400 and message in _body(response)  # type: ignore[attr-defined]
    assert elapsed < SECONDS, f"{elapsed:.2f} s"
    pasted, elapsed = _timed(lambda: _tool(viewer_client, "verify", data_text=data.decode()))
    assert message in _body(pasted) and elapsed < SECONDS, f"{elapsed:.2f} s"


@pytest.mark.parametrize(("bundle", "message"), [("megabyte", TOO_MANY), ("same_name_chain", SAME_NAME)])
def test_web_import_answers_in_time(
    staff_client: Client, request: pytest.FixtureRequest, bundle: str, message: str
) -> None:
    data = request.getfixturevalue(bundle)
    upload = {"certificate_file": SimpleUploadedFile("b.pem", data)}
    response, elapsed = _timed(lambda: staff_client.post("/certificates/import/", upload))
    assert message in _body(response) and elapsed < SECONDS, f"{elapsed:.2f} s"
    assert not Certificate.objects.exists()


def test_a_costly_pkcs12_is_refused_in_time_on_every_page(
    staff_client: Client, viewer_client: Client, costly_p12: bytes
) -> None:
    calls = {
        "import": lambda: staff_client.post(
            "/certificates/import/", {"pkcs12_file": SimpleUploadedFile("m.p12", costly_p12), "passphrase": "pw"}
        ),
        "decode": lambda: _tool(viewer_client, "decode", data_file=SimpleUploadedFile("m.p12", costly_p12)),
        "convert": lambda: _tool(
            viewer_client, "convert", data_file=SimpleUploadedFile("m.p12", costly_p12), to="pem", password="pw"
        ),
    }
    for page, call in calls.items():
        response, elapsed = _timed(call)
        assert TOO_COSTLY in _body(response), page
        assert elapsed < SECONDS, f"{page}: {elapsed:.2f} s"
    assert not Certificate.objects.exists()


@pytest.mark.parametrize(("bundle", "message"), [("megabyte", TOO_MANY), ("same_name_chain", SAME_NAME)])
def test_cli_import_answers_in_time(  # type: ignore[no-untyped-def]
    cli, write_file, request: pytest.FixtureRequest, bundle: str, message: str
) -> None:
    path = write_file("b.pem", request.getfixturevalue(bundle))
    result, elapsed = _timed(lambda: cli("certs", "import", "--cert", path))
    assert result.code == 1 and result.err.count("\n") == 1 and message in result.err  # type: ignore[attr-defined]
    assert elapsed < SECONDS, f"{elapsed:.2f} s"


def test_cli_import_of_a_costly_pkcs12_answers_in_time(cli, write_file, costly_p12: bytes) -> None:  # type: ignore[no-untyped-def]
    args = ["--pkcs12", write_file("m.p12", costly_p12), "--passphrase-file", write_file("pw", b"pw\n")]
    result, elapsed = _timed(lambda: cli("certs", "import", *args))
    assert result.code == 1 and TOO_COSTLY in result.err and elapsed < SECONDS  # type: ignore[attr-defined]
