"""services.probes.run: every protocol end to end, the arguments it refuses, and many ports at once."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from services.probes import run
from services.probes.run import ProbeTarget, probe, probe_many
from services.protocols import BY_CODE, PROTOCOLS
from tests.support.factories import pem
from tests.support.probe_servers import (
    HOST,
    NAME,
    MiniServer,
    Pki,
    Script,
    closed_port,
    fp,
    ftp,
    imap,
    implicit,
    ldap,
    pop3,
    smtp,
)


def test_fingerprint_normalization() -> None:
    plain = "ab" * 32
    assert run._normalize_fingerprint("SHA256:" + ":".join(["AB"] * 32)) == plain
    assert run._normalize_fingerprint(f"  {plain.upper()} ") == plain


STARTTLS_SCRIPTS: dict[str, Callable[[], Script]] = {
    "smtp": smtp,
    "submission": smtp,
    "imap": imap,
    "pop3": pop3,
    "ftp": ftp,
    "ldap": ldap,
}


@pytest.mark.parametrize("protocol", [p.code for p in PROTOCOLS])
def test_every_protocol_proves_the_served_certificate(
    serve: Callable[..., MiniServer], pki: Pki, protocol: str
) -> None:
    script = STARTTLS_SCRIPTS.get(protocol, implicit)()
    server = serve(script)
    result = probe(host=HOST, port=server.port, protocol=protocol, server_name=NAME, expected_fingerprint=fp(pki.leaf))
    assert result.ok, result.error
    assert result.error == ""
    assert result.matches_expected is True and result.hostname_ok and result.chain_ok
    assert result.served_fingerprint_sha256 == fp(pki.leaf) == result.expected_fingerprint_sha256
    assert len(result.served_chain_pem) == 2
    assert result.served_chain_pem[1] == pem(pki.ca.intermediate).decode()
    assert result.tls_version == "TLSv1.3" and result.cipher.startswith("TLS_")
    assert result.days_left in (89, 90) and result.not_after == pki.leaf.not_valid_after_utc
    implicit_tls = BY_CODE[protocol].implicit
    assert result.starttls_offered is (None if implicit_tls else True)
    if implicit_tls or protocol in ("ftp", "ldap"):
        assert result.plaintext_auth_before_tls is None
    assert 0 < result.elapsed_ms < 2000


def test_unknown_protocol_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'gopher'"):
        probe(host=HOST, port=1, protocol="gopher", server_name=NAME)
    with pytest.raises(ValueError, match="unknown protocol"):
        probe_many([ProbeTarget(HOST, 1, "smtp", NAME), ProbeTarget(HOST, 1, "gopher", NAME)])


TWELVE = ["smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "https", "ftp", "ftps", "ldap", "ldaps"]


def test_probe_many_twelve_listeners_in_input_order(serve: Callable[..., MiniServer], pki: Pki) -> None:
    targets = [
        ProbeTarget(HOST, serve(STARTTLS_SCRIPTS.get(p, implicit)()).port, p, NAME, fp(pki.leaf)) for p in TWELVE
    ]
    targets[5] = ProbeTarget(HOST, closed_port(), "pop3", NAME)
    started = time.monotonic()
    results = probe_many(targets)
    elapsed = time.monotonic() - started
    print(f"\nprobe_many: 12 loopback listeners in {elapsed * 1000:.0f} ms")
    assert [(r.port, r.protocol) for r in results] == [(t.port, t.protocol) for t in targets]
    assert [r.ok for r in results] == [i != 5 for i in range(12)]
    assert results[5].error == "connection refused"
    assert elapsed < 2.0


def test_probe_many_really_runs_concurrently(serve: Callable[..., MiniServer]) -> None:
    # Each server waits 0.4 s before speaking: in sequence that would be 4.8 s.
    ports = [serve(smtp(delay=0.4) if i % 2 else implicit(delay=0.4)).port for i in range(12)]
    targets = [ProbeTarget(HOST, port, "smtp" if i % 2 else "smtps", NAME) for i, port in enumerate(ports)]
    started = time.monotonic()
    results = probe_many(targets, timeout=3)
    elapsed = time.monotonic() - started
    print(f"\nprobe_many: 12 listeners with a 0.4 s delay each in {elapsed * 1000:.0f} ms")
    assert all(r.ok for r in results), [r.error for r in results]
    assert elapsed < 2.0  # in sequence: 4.8 s
    assert probe_many([]) == []
