"""Smoke test of tests/support/pebble.py: real Pebble, real HTTP-01 validation against our responder, real TLS checks.

Uses the `acme` library directly, not the panel, so a failure here points at the harness (or Debian's Pebble).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import josepy as jose
import pytest
import requests
from acme import challenges, client, errors, messages
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.pebble import Pebble, PebbleOptions, free_port, running_pebble

pytestmark = [pytest.mark.integration]

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


@dataclass
class Responder:
    """HTTP-01 responder: token -> key authorization; records which Host each validation request named."""

    port: int
    tokens: dict[str, str] = field(default_factory=dict)
    hosts_seen: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def responder() -> Iterator[Responder]:
    state = Responder(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = self.path.removeprefix(CHALLENGE_PREFIX)
            body = state.tokens.get(token) if self.path.startswith(CHALLENGE_PREFIX) else None
            state.hosts_seen.append(self.headers.get("Host", ""))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def pebble(responder: Responder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), PebbleOptions(http_port=responder.port)) as started:
        yield started


def account_client(pebble: Pebble, eab: tuple[str, str] | None = None) -> client.ClientV2:
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(key, alg=jose.ES256, verify_ssl=str(pebble.ca_bundle_path), user_agent="certpanel-test")
    directory = client.ClientV2.get_directory(pebble.directory_url, net)
    acme = client.ClientV2(directory, net)
    binding = None
    if eab is not None:
        binding = messages.ExternalAccountBinding.from_data(
            account_public_key=key.public_key(), kid=eab[0], hmac_key=eab[1], directory=directory
        )
    registration = messages.NewRegistration.from_data(
        email="hostmaster@example.com", terms_of_service_agreed=True, external_account_binding=binding
    )
    acme.net.account = acme.new_account(registration)
    return acme


def issue(
    acme: client.ClientV2, responder: Responder, names: list[str], *, profile: str | None = None
) -> list[x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    order = acme.new_order(csr.public_bytes(serialization.Encoding.PEM), profile=profile)
    for authz in order.authorizations:
        challb = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, validation = challb.chall.response_and_validation(acme.net.key)
        responder.tokens[challb.chall.encode("token")] = validation
        acme.answer_challenge(challb, response)
    done = acme.poll_and_finalize(order, deadline=datetime.now() + timedelta(seconds=20))
    return x509.load_pem_x509_certificates(done.fullchain_pem.encode())


def test_issues_certificate_for_any_name_through_our_responder(pebble: Pebble, responder: Responder) -> None:
    names = ["mail.example.com", "host42.example.test"]
    responder.hosts_seen.clear()

    chain = issue(account_client(pebble), responder, names)

    leaf, intermediate = chain[0], chain[1]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
    # Both names resolved to 127.0.0.1 and the VA came to our port, not to challtestsrv's or 5002.
    assert {h.split(":")[0] for h in responder.hosts_seen} >= set(names)
    root = x509.load_pem_x509_certificate(pebble.roots_pem())
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    assert x509.load_pem_x509_certificate(pebble.intermediates_pem()) == intermediate
    assert pebble.cert_status(leaf.serial_number)["Status"] == "Valid"


def test_directory_tls_is_verified_against_the_generated_ca(pebble: Pebble) -> None:
    assert requests.get(pebble.directory_url, verify=str(pebble.ca_bundle_path), timeout=5).ok
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(pebble.directory_url, verify=True, timeout=5)  # the system store must not trust it


def raw_new_account_posts(pebble: Pebble, attempts: int) -> list[str]:
    """POST new-account `attempts` times with fresh, valid nonces, without the acme library's badNonce retry."""
    verify = str(pebble.ca_bundle_path)
    directory = requests.get(pebble.directory_url, verify=verify, timeout=5).json()
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    outcomes = []
    for _ in range(attempts):
        nonce = requests.head(directory["newNonce"], verify=verify, timeout=5).headers["Replay-Nonce"]
        body = acme_jws.JWS.sign(
            json.dumps({"termsOfServiceAgreed": True}).encode(),
            key=key,
            alg=jose.ES256,
            nonce=jose.b64decode(nonce),
            url=directory["newAccount"],
        )
        response = requests.post(
            directory["newAccount"],
            data=body.json_dumps(),
            headers={"Content-Type": "application/jose+json"},
            verify=verify,
            timeout=5,
        )
        outcomes.append(response.json().get("type", "ok") if response.status_code >= 400 else "ok")
    return outcomes


def test_nonce_reject_zero_is_honoured(pebble: Pebble) -> None:
    # Pebble's own default rejects 5% of good nonces; the harness must turn that off by default.
    assert raw_new_account_posts(pebble, 20) == ["ok"] * 20


def test_nonce_reject_reaches_pebble(tmp_path: Path) -> None:
    with running_pebble(tmp_path, PebbleOptions(http_port=free_port(), nonce_reject=90)) as pebble:
        outcomes = raw_new_account_posts(pebble, 10)
    # P(fewer than 5 of 10 rejected at 90%) is about 1.5e-4.
    assert outcomes.count("urn:ietf:params:acme:error:badNonce") >= 5, outcomes


def test_validity_seconds(tmp_path: Path, responder: Responder) -> None:
    options = PebbleOptions(http_port=responder.port, validity_seconds=60)
    with running_pebble(tmp_path, options) as pebble:
        leaf = issue(account_client(pebble), responder, ["short.example.com"])[0]
    lifetime = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds()
    assert 55 <= lifetime <= 65, lifetime


def test_restart_keeps_urls_and_drops_state(tmp_path: Path, responder: Responder) -> None:
    with running_pebble(tmp_path, PebbleOptions(http_port=responder.port)) as pebble:
        url, ca_bundle, dns_pid = pebble.directory_url, pebble.ca_bundle_path, pebble.challtestsrv.pid
        old_pid, old_root = pebble.pid, pebble.roots_pem()
        acme = account_client(pebble)

        pebble.restart()

        assert pebble.directory_url == url and pebble.ca_bundle_path == ca_bundle
        assert pebble.pid != old_pid and pebble.challtestsrv.pid == dns_pid
        assert pebble.roots_pem() != old_root  # a new CA: certificates from before do not chain to it
        with pytest.raises(errors.Error) as lost:
            acme.query_registration(acme.net.account)
        assert "accountDoesNotExist" in str(lost.value)
        issue(account_client(pebble), responder, ["after-restart.example.com"])
        pids = [pebble.pid, pebble.challtestsrv.pid]
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_external_account_binding(tmp_path: Path) -> None:
    kid, hmac_key = "kid-1", jose.b64encode(os.urandom(32)).decode()
    options = PebbleOptions(http_port=free_port(), eab_required=True, eab_keys={kid: hmac_key})
    with running_pebble(tmp_path, options) as pebble:
        with pytest.raises(messages.Error) as refused:
            account_client(pebble)
        assert refused.value.typ == "urn:ietf:params:acme:error:externalAccountRequired"
        assert account_client(pebble, eab=(kid, hmac_key)).net.account is not None


def test_add_a_record_overrides_the_default(pebble: Pebble, responder: Responder) -> None:
    # 127.0.0.2 is loopback too, but our responder only listens on 127.0.0.1: validation must fail.
    pebble.add_a_record("elsewhere.example.com", "127.0.0.2")
    with pytest.raises(errors.ValidationError):
        issue(account_client(pebble), responder, ["elsewhere.example.com"])
