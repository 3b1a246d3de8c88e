"""ARI (RFC 9773) against recorded renewalInfo responses: Pebble 2.4.0 has none, so a loopback
server replays what a CA sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.utils import timezone

from repository.acme.client import AcmeSession, ari_certificate_id
from repository.acme.renewals import certificate_ari_refresh
from repository.keystore import key_store
from repository.models import AcmeAccount, Certificate
from repository.pki.describe import describe_certificate
from tests.support.factories import ec_key, make_ca, name, pem

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


@pytest.fixture
def fake_ca() -> Iterator[FakeCA]:
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
    yield state
    server.shutdown()


def _leaf(days: int = 90) -> tuple[object, x509.Certificate]:
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


def test_cert_id_matches_the_rfc_9773_example() -> None:
    ca_key = ec_key()
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("x"))
        .issuer_name(name("ca"))
        .public_key(ca_key.public_key())
        .serial_number(0x87654321)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2026, 4, 1, tzinfo=UTC))
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    assert ari_certificate_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_session_reads_the_recorded_window_and_retry_after(fake_ca: FakeCA) -> None:
    _, leaf = _leaf()
    session = AcmeSession(directory_url=f"{fake_ca.url}/dir", account_key=ec_key())
    window = session.renewal_info(leaf)
    assert window.start == datetime(2026, 12, 20, 4, tzinfo=UTC)
    assert window.end == datetime(2026, 12, 21, 4, tzinfo=UTC)
    assert window.retry_after == timedelta(hours=6)
    assert fake_ca.paths[-1] == f"/renewal-info/{ari_certificate_id(leaf)}"


@pytest.fixture
def acme_entry(db: None, fake_ca: FakeCA) -> Certificate:
    key, leaf = _leaf()
    account = AcmeAccount.objects.create(
        name="fake", directory_url=f"{fake_ca.url}/dir", key=key_store(ec_key()), uri=f"{fake_ca.url}/acct/1"
    )
    info = describe_certificate(leaf)
    return Certificate.objects.create(
        name="mail.example.com",
        source="acme",
        key=key_store(key),
        certificate_pem=pem(leaf).decode(),
        common_name="mail.example.com",
        sans=["mail.example.com"],
        fingerprint_sha256=info.fingerprint_sha256,
        not_before=info.not_before,
        not_after=info.not_after,
        auto_renew=True,
        acme_account=account,
        renew_at=info.not_after - timedelta(days=30),
        renewal_rule="lifetime: renew with 1/3 of 90 days left",
        ari_next_check=timezone.now(),
    )


def test_ari_window_replaces_the_lifetime_rule_and_is_rechecked_after_retry_after(acme_entry: Certificate) -> None:
    now = timezone.now()
    entry = certificate_ari_refresh(acme_entry.pk, now=now)
    start, end = datetime(2026, 12, 20, 4, tzinfo=UTC), datetime(2026, 12, 21, 4, tzinfo=UTC)
    assert start <= entry.renew_at <= end
    assert entry.renewal_rule.startswith("ARI window")
    assert entry.ari_next_check == now + timedelta(hours=6)
    picked = entry.renew_at
    again = certificate_ari_refresh(acme_entry.pk, now=now)
    assert again.renew_at == picked, "the same window keeps its random pick"


def test_a_moved_window_gets_a_new_pick(acme_entry: Certificate, fake_ca: FakeCA) -> None:
    certificate_ari_refresh(acme_entry.pk)
    fake_ca.body = {"suggestedWindow": {"start": "2026-12-01T00:00:00Z", "end": "2026-12-01T01:00:00Z"}}
    entry = certificate_ari_refresh(acme_entry.pk)
    assert datetime(2026, 12, 1, tzinfo=UTC) <= entry.renew_at <= datetime(2026, 12, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "broken",
    [
        {"status": 500, "body": {"type": "urn:ietf:params:acme:error:serverInternal"}},
        {"body": {"suggestedWindow": {"start": "yesterday"}}},
        {"body": {"unexpected": True}},
    ],
)
def test_any_ari_error_keeps_the_lifetime_rule(acme_entry: Certificate, fake_ca: FakeCA, broken: dict) -> None:
    for key, value in broken.items():
        setattr(fake_ca, key, value)
    now = timezone.now()
    entry = certificate_ari_refresh(acme_entry.pk, now=now)
    assert entry.renew_at == acme_entry.renew_at and entry.renewal_rule.startswith("lifetime")
    assert entry.ari_next_check == now + timedelta(hours=12)


def test_directory_without_renewal_info_stops_asking(acme_entry: Certificate, fake_ca: FakeCA) -> None:
    fake_ca.with_ari = False
    entry = certificate_ari_refresh(acme_entry.pk)
    assert entry.ari_next_check is None and entry.renewal_rule.startswith("lifetime")
