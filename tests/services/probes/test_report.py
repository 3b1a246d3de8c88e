"""services.probes.report: what a probe concludes from the chain a server sent (fingerprint, name, chain, days
left) and the error text an admin reads; first judged directly, then through real handshakes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from services.probes.report import ProbeResult, judge
from services.probes.run import probe
from services.probes.tls import Served
from tests.support import hostile
from tests.support.factories import pem
from tests.support.probe_servers import HOST, NAME, NOW, MiniServer, Pki, fp, ftp, imap, implicit, pop3, smtp

BASE = ProbeResult(host=HOST, port=25, protocol="smtp", server_name=NAME, ok=False)


# --- judged directly: no socket ---------------------------------------------------------------


def test_judge_a_sound_chain_for_the_assigned_certificate(pki: Pki) -> None:
    served = Served([pki.leaf, pki.ca.intermediate], "TLSv1.3", "TLS_AES_256_GCM_SHA384")
    result = judge(BASE, served, expected=fp(pki.leaf), now=NOW)
    assert result.ok and result.error == "" and result.chain_problems == []
    assert (result.matches_expected, result.hostname_ok, result.chain_ok) == (True, True, True)
    assert result.served_fingerprint_sha256 == fp(pki.leaf)
    assert result.served_chain_pem == [pem(pki.leaf).decode(), pem(pki.ca.intermediate).decode()]
    assert (result.tls_version, result.cipher) == ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    assert result.not_after == pki.leaf.not_valid_after_utc
    assert result.days_left == (pki.leaf.not_valid_after_utc - NOW).days


def test_judge_joins_every_failure_in_one_error(pki: Pki) -> None:
    served = Served([pki.other_name], "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
    result = judge(BASE, served, expected=fp(pki.leaf), now=NOW)
    mismatch, name, incomplete = result.error.split("; ")
    served_fp, expected_fp = fp(pki.other_name)[:12], fp(pki.leaf)[:12]
    assert mismatch == f"serves a different certificate (sha256 {served_fp}…) than the one assigned ({expected_fp}…)"
    assert name == f"the certificate does not cover {NAME}"
    assert incomplete.startswith("the chain is incomplete: ") and result.chain_problems == [incomplete]


def test_judge_a_handshake_without_certificate() -> None:
    result = judge(BASE, Served([], "TLSv1.3", "TLS_AES_128_GCM_SHA256"), expected="", now=NOW)
    assert not result.ok and result.error == "the server sent no certificate"
    assert result.tls_version == "TLSv1.3" and result.served_fingerprint_sha256 == "" and result.days_left is None


# --- through a real handshake -----------------------------------------------------------------


def test_mismatch_is_reported_with_both_fingerprints(serve: Callable[..., MiniServer], pki: Pki) -> None:
    server = serve(smtp())
    expected = fp(pki.other_name)
    result = probe(
        host=HOST, port=server.port, protocol="smtp", server_name=NAME, expected_fingerprint=expected.upper()
    )
    assert not result.ok and result.matches_expected is False
    assert result.hostname_ok and result.chain_ok  # everything else is fine
    assert result.error == (
        f"serves a different certificate (sha256 {fp(pki.leaf)[:12]}…) than the one assigned ({expected[:12]}…)"
    )


def test_without_expected_fingerprint_matches_is_none(serve: Callable[..., MiniServer]) -> None:
    result = probe(host=HOST, port=serve(implicit()).port, protocol="imaps", server_name=NAME)
    assert result.ok and result.matches_expected is None and result.expected_fingerprint_sha256 == ""


def test_wrong_hostname(serve: Callable[..., MiniServer], pki: Pki) -> None:
    server = serve(imap(), chain=[pki.other_name, pki.ca.intermediate])
    result = probe(
        host=HOST, port=server.port, protocol="imap", server_name=NAME, expected_fingerprint=fp(pki.other_name)
    )
    assert not result.ok and result.matches_expected is True and not result.hostname_ok
    assert result.error == f"the certificate does not cover {NAME}"


def test_incomplete_chain(serve: Callable[..., MiniServer], pki: Pki) -> None:
    result = probe(host=HOST, port=serve(pop3(), chain=[pki.leaf]).port, protocol="pop3", server_name=NAME)
    assert not result.ok and result.hostname_ok and not result.chain_ok
    assert result.error.startswith("the chain is incomplete: ") and result.error == result.chain_problems[0]
    assert len(result.served_chain_pem) == 1


def test_self_signed_leaf_is_fine(serve: Callable[..., MiniServer], pki: Pki) -> None:
    server = serve(ftp(), chain=[pki.selfsigned])
    result = probe(
        host=HOST, port=server.port, protocol="ftp", server_name=NAME, expected_fingerprint=fp(pki.selfsigned)
    )
    assert result.ok, result.error


def test_expired_leaf(serve: Callable[..., MiniServer], pki: Pki) -> None:
    server = serve(implicit(), chain=[pki.expired, pki.ca.intermediate])
    result = probe(host=HOST, port=server.port, protocol="smtps", server_name=NAME)
    assert not result.ok and not result.chain_ok
    assert result.days_left is not None and result.days_left < 0
    assert result.error == f"the certificate '{NAME}' expired on {pki.expired.not_valid_after_utc:%Y-%m-%d}"


def test_now_is_taken_into_account(serve: Callable[..., MiniServer], pki: Pki) -> None:
    port = serve(implicit()).port
    later = pki.leaf.not_valid_after_utc - timedelta(days=3, hours=1)
    result = probe(host=HOST, port=port, protocol="https", server_name=NAME, now=later.replace(tzinfo=None))
    assert result.ok and result.days_left == 3


# --- certificates the panel cannot read in full (tests/support/hostile.py) ----------------------------------------


def test_judge_says_what_it_cannot_read_in_a_served_certificate(pki: Pki) -> None:
    for label, (cert, message) in hostile.hostile_certificates(pki.ca).items():
        served = Served([cert, pki.ca.intermediate], "TLSv1.3", "TLS_AES_256_GCM_SHA384")
        result = judge(BASE, served, expected=fp(pki.leaf), now=NOW)
        assert not result.ok, label
        mismatch, unreadable = result.error.split("; ")
        assert mismatch.startswith("serves a different certificate") and result.matches_expected is False
        assert unreadable.startswith("the served certificate cannot be checked: this certificate"), label
        assert message in unreadable, label
        assert result.served_fingerprint_sha256 == fp(cert) and len(result.served_chain_pem) == 2


def test_served_certificates_with_x400_and_edi_party_names_are_reported_through_a_real_handshake(
    serve: Callable[..., MiniServer], pki: Pki
) -> None:
    # (OpenSSL refuses to serve the malformed issuer, so that one is judged directly only.)
    for cert in (
        hostile.x400_san_certificate(pki.ca, NAME, pki.key.public_key()),
        hostile.edi_party_san_certificate(pki.ca, NAME, pki.key.public_key()),
    ):
        server = serve(smtp(), chain=[cert, pki.ca.intermediate])
        result = probe(host=HOST, port=server.port, protocol="smtp", server_name=NAME, expected_fingerprint=fp(cert))
        assert not result.ok and result.matches_expected is True
        assert result.error.startswith("the served certificate cannot be checked: this certificate")
