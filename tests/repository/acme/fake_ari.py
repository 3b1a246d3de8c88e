"""A CA that answers ARI (RFC 9773) with recorded renewalInfo responses: Pebble 2.4.0 has none, so a loopback
server replays what a CA sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.test import override_settings

from tests.support.factories import ec_key, make_ca, name

# Recorded from a CA's renewalInfo endpoint (the shape RFC 9773 §4.2 shows), with its Retry-After.
RECORDED = {
    "suggestedWindow": {"start": "2026-12-20T04:00:00Z", "end": "2026-12-21T04:00:00Z"},
    "explanationURL": "https://acme.example.com/docs/ari",
}


@dataclass
class FakeCA:
    url: str = ""
    body: dict | None = field(default_factory=lambda: dict(RECORDED))
    status: int = 200
    retry_after: str = "21600"
    with_ari: bool = True
    paths: list[str] = field(default_factory=list)


@contextmanager
def fake_ari_ca() -> Iterator[FakeCA]:
    state = FakeCA()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.paths.append(self.path)
            if self.path == "/dir":
                directory = {
                    "newNonce": f"{state.url}/nonce",
                    "newAccount": f"{state.url}/acct",
                    "newOrder": f"{state.url}/order",
                    "revokeCert": f"{state.url}/revoke",
                    "keyChange": f"{state.url}/kc",
                    "meta": {"termsOfService": f"{state.url}/tos"},
                }
                if state.with_ari:
                    directory["renewalInfo"] = f"{state.url}/renewal-info"
                self._send(200, directory)
            elif self.path.startswith("/renewal-info/"):
                self._send(state.status, state.body, {"Retry-After": state.retry_after})
            else:
                self._send(404, {"type": "urn:ietf:params:acme:error:malformed"})

        def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with override_settings(CERTPANEL_OUTBOUND_ALLOW=["127.0.0.1"]):  # loopback, which outbound fetches refuse
        yield state
    server.shutdown()


def leaf_with_aki(days: int = 90) -> tuple[object, x509.Certificate]:
    ca = make_ca("ARI")
    key = ec_key()
    leaf = ca.issue(key.public_key(), ["mail.example.com"], days=days)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.intermediate_key.public_key())
    # Rebuild with an AKI: CAs always include one, and ARI names a certificate by it.
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("mail.example.com"))
        .issuer_name(leaf.issuer)
        .public_key(key.public_key())
        .serial_number(leaf.serial_number)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.example.com")]), critical=False)
        .add_extension(aki, critical=False)
    )
    return key, builder.sign(ca.intermediate_key, hashes.SHA256())
