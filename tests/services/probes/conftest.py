"""Fixtures of the probe tests: the test PKI, and ``serve``, which starts small TLS servers on loopback
(tests/support/probe_servers.py)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.support.factories import key_pem, pem
from tests.support.probe_servers import MiniServer, Pki, Script, probe_pki


@pytest.fixture(scope="module")
def pki() -> Pki:
    return probe_pki()


@pytest.fixture
def serve(tmp_path: Path, pki: Pki) -> Iterator[Callable[..., MiniServer]]:
    """serve(script, chain=[...]) -> a running MiniServer; all are stopped at the end of the test."""
    servers: list[MiniServer] = []
    counter = iter(range(1000))

    def start(script: Script, chain: list[x509.Certificate] | None = None, **tls: object) -> MiniServer:
        index = next(counter)
        certfile, keyfile = tmp_path / f"chain{index}.pem", tmp_path / f"key{index}.pem"
        certfile.write_bytes(pem(*(chain or [pki.leaf, pki.ca.intermediate])))
        keyfile.write_bytes(key_pem(pki.key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        if "maximum_version" in tls:
            context.maximum_version = tls["maximum_version"]  # type: ignore[assignment]
        if "sni_seen" in tls:
            seen: list[str | None] = tls["sni_seen"]  # type: ignore[assignment]
            context.sni_callback = lambda _sock, server_name, _ctx: seen.append(server_name)  # type: ignore[assignment,misc]
        server = MiniServer(context, script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
