"""Tests for repository.pki.chain: ordering and verifying chains, uploaded or as a server sends them.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from repository.errors import CryptoError
from repository.pki.chain import (
    aia_ca_issuers_urls,
    missing_issuer,
    order_chain,
    path_ends_at_root,
    verify_chain,
    verify_served_chain,
)
from repository.pki.generate import create_self_signed
from repository.pki.parse import parse_certificates
from tests.repository.pki.builders import AIA_URL, NOW, Pki, issue, x509_name
from tests.support import hostile
from tests.support.factories import CA, make_ca, name


def test_order_chain_sorts_shuffled_input(pki: Pki) -> None:
    leaf, chain = order_chain([pki.intermediate, pki.root, pki.leaf])
    assert leaf == pki.leaf
    assert chain == [pki.intermediate, pki.root]


def test_order_chain_sorts_reversed_input(pki: Pki) -> None:
    leaf, chain = order_chain([pki.root, pki.intermediate, pki.leaf])
    assert (leaf, chain) == (pki.leaf, [pki.intermediate, pki.root])


def test_order_chain_drops_unrelated_certificates(pki: Pki, other_pki: Pki) -> None:
    leaf, chain = order_chain(
        [other_pki.root, pki.intermediate, other_pki.intermediate, pki.leaf],
        leaf_key=pki.leaf_key,
    )
    assert (leaf, chain) == (pki.leaf, [pki.intermediate])


def test_order_chain_prefers_the_certificate_matching_the_key(pki: Pki, other_pki: Pki) -> None:
    certs = [pki.leaf, other_pki.leaf, other_pki.intermediate]
    leaf, chain = order_chain(certs, leaf_key=other_pki.leaf_key.public_key())
    assert (leaf, chain) == (other_pki.leaf, [other_pki.intermediate])


def test_order_chain_detects_key_mismatch(pki: Pki, other_pki: Pki) -> None:
    with pytest.raises(CryptoError, match=r"^None of the certificates matches the private key\.$"):
        order_chain([pki.leaf, pki.intermediate], leaf_key=other_pki.leaf_key)


def test_order_chain_requires_signature_not_just_matching_names(pki: Pki) -> None:
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    impostor = issue(
        subject=pki.intermediate.subject,
        public_key=impostor_key.public_key(),
        issuer=pki.root.subject,
        signing_key=impostor_key,
        ca=True,
    )
    leaf, chain = order_chain([pki.leaf, impostor, pki.intermediate])
    assert (leaf, chain) == (pki.leaf, [pki.intermediate])


def test_order_chain_of_single_self_signed_certificate(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = create_self_signed(key=rsa_key, common_name="a.example", sans=[], days=5)
    assert order_chain([cert, cert]) == (cert, [])


def test_order_chain_rejects_empty_input() -> None:
    with pytest.raises(CryptoError):
        order_chain([])


def test_missing_issuer_only_for_a_lone_leaf(pki: Pki, rsa_key: rsa.RSAPrivateKey) -> None:
    assert missing_issuer(pki.leaf, []) == pki.intermediate.subject
    assert missing_issuer(pki.leaf, [pki.intermediate]) is None
    assert missing_issuer(pki.leaf, [pki.intermediate, pki.root]) is None
    self_signed = create_self_signed(key=rsa_key, common_name="a.example", sans=[], days=5)
    assert missing_issuer(self_signed, []) is None


def test_path_ends_at_root(pki: Pki) -> None:
    assert path_ends_at_root(pki.leaf, [pki.intermediate, pki.root])
    assert not path_ends_at_root(pki.leaf, [pki.intermediate])
    assert path_ends_at_root(pki.root, [])


def test_aia_ca_issuers_urls_returns_http_urls_only(pki: Pki) -> None:
    assert aia_ca_issuers_urls(pki.leaf) == [AIA_URL]
    assert aia_ca_issuers_urls(pki.root) == []


def test_verify_chain_accepts_complete_chain(pki: Pki) -> None:
    assert verify_chain(pki.leaf, [pki.intermediate]) == []
    assert verify_chain(pki.leaf, [pki.intermediate, pki.root]) == []


def test_verify_chain_reports_expired_certificate(pki: Pki) -> None:
    expired = issue(
        subject=x509_name("old.example.com"),
        public_key=pki.leaf_key.public_key(),
        issuer=pki.intermediate.subject,
        signing_key=pki.intermediate_key,
        ca=False,
        not_before=datetime(2024, 1, 1, tzinfo=UTC),
        not_after=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert verify_chain(expired, [pki.intermediate]) == ["old.example.com expired on 2025-01-01."]


def test_verify_chain_reports_not_yet_valid_with_explicit_now(pki: Pki) -> None:
    before = NOW - timedelta(days=30)
    problems = verify_chain(pki.leaf, [pki.intermediate], now=before)
    assert len(problems) == 2
    assert problems[0].startswith("mail.example.com is not valid yet")


def test_verify_chain_reports_wrong_issuer(pki: Pki, other_pki: Pki) -> None:
    problems = verify_chain(pki.leaf, [other_pki.intermediate])
    assert problems == ["mail.example.com is not signed by Other Root Intermediate."]


def test_verify_chain_reports_missing_intermediate(pki: Pki) -> None:
    assert verify_chain(pki.leaf, []) == [
        "The intermediate certificate for issuer 'CN=Test Root Intermediate,O=Test PKI' is missing."
    ]


# --- the chain as a server sends it (the probe report's words) --------------------------------------------------

SERVED_NAME = "mail.example.com"
# An hour ahead of import time: certificates issued later in a long run (from `now - 1 min`) are valid at SERVED_NOW.
SERVED_NOW = datetime.now(UTC) + timedelta(hours=1)


@dataclass
class Served:
    ca: CA
    leaf: x509.Certificate
    expired: x509.Certificate
    future: x509.Certificate
    selfsigned: x509.Certificate
    impostor: CA  # same names as ``ca``, different keys


@pytest.fixture(scope="module")
def served(ec_key: ec.EllipticCurvePrivateKey) -> Served:
    ca, public_key = make_ca("Probe"), ec_key.public_key()
    selfsigned = (
        x509.CertificateBuilder()
        .subject_name(name(SERVED_NAME))
        .issuer_name(name(SERVED_NAME))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(SERVED_NOW - timedelta(days=1))
        .not_valid_after(SERVED_NOW + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVED_NAME)]), critical=False)
        .sign(ec_key, hashes.SHA256())
    )
    return Served(
        ca=ca,
        leaf=ca.issue(public_key, [SERVED_NAME, "*.example.net"]),
        expired=ca.issue(public_key, [SERVED_NAME], not_before=SERVED_NOW - timedelta(days=100), days=30),
        future=ca.issue(public_key, [SERVED_NAME], not_before=SERVED_NOW + timedelta(days=2), days=30),
        selfsigned=selfsigned,
        impostor=make_ca("Probe"),
    )


def test_sound_served_chains(served: Served) -> None:
    assert verify_served_chain([served.leaf, served.ca.intermediate], now=SERVED_NOW) == []
    assert verify_served_chain([served.leaf, served.ca.intermediate, served.ca.root], now=SERVED_NOW) == []
    assert verify_served_chain([served.selfsigned], now=SERVED_NOW) == []  # a lone self-signed leaf is complete


def test_served_leaf_without_intermediate_is_incomplete(served: Served) -> None:
    [problem] = verify_served_chain([served.leaf], now=SERVED_NOW)
    assert problem.startswith("the chain is incomplete: ")
    assert "Probe Intermediate CA" in problem


def test_served_chain_in_wrong_order_or_with_a_foreign_issuer(served: Served) -> None:
    problems = verify_served_chain([served.ca.intermediate, served.leaf], now=SERVED_NOW)
    assert problems and "out of order" in problems[0]
    # Same issuer name, different key: the name alone must not pass.
    [problem] = verify_served_chain([served.leaf, served.impostor.intermediate], now=SERVED_NOW)
    assert "did not sign" in problem


def test_served_chain_validity_problems(served: Served) -> None:
    [expired] = verify_served_chain([served.expired, served.ca.intermediate], now=SERVED_NOW)
    assert expired.startswith(f"the certificate '{SERVED_NAME}' expired on ")
    [future] = verify_served_chain([served.future, served.ca.intermediate], now=SERVED_NOW)
    assert "is not valid until" in future
    # The intermediate expires in ten years: seen from then, both are expired.
    later = verify_served_chain([served.leaf, served.ca.intermediate], now=SERVED_NOW + timedelta(days=4000))
    assert len(later) == 2 and "the intermediate 'Probe Intermediate CA' expired" in later[1]


def test_served_chain_problems_in_full(served: Served) -> None:
    """The exact words the probe report shows (and the service alert email repeats)."""
    intermediate = "CN=Probe Intermediate CA"
    assert verify_served_chain([], now=SERVED_NOW) == ["the server sent no certificate"]
    assert verify_served_chain([served.leaf], now=SERVED_NOW) == [
        f"the chain is incomplete: '{SERVED_NAME}' is issued by '{intermediate}', "
        "but the server does not send that intermediate certificate"
    ]
    assert verify_served_chain([served.ca.intermediate, served.leaf], now=SERVED_NOW)[0] == (
        f"the chain is out of order or wrong: 'Probe Intermediate CA' is issued by 'CN=Probe Root CA', "
        f"but the next certificate served is '{SERVED_NAME}'"
    )
    assert verify_served_chain([served.leaf, served.impostor.intermediate], now=SERVED_NOW) == [
        f"the chain is broken: 'Probe Intermediate CA' is named as the issuer of '{SERVED_NAME}' but did not sign it"
    ]
    not_before = served.future.not_valid_before_utc
    assert verify_served_chain([served.future, served.ca.intermediate], now=SERVED_NOW) == [
        f"the certificate '{SERVED_NAME}' is not valid until {not_before:%Y-%m-%d %H:%M} UTC"
    ]


# --- bounded: issuers by name index, leaf by name count, a budget of signature checks ---------------------------


def test_a_megabyte_of_same_subject_certificates_is_refused_in_well_under_a_second() -> None:
    bundle = hostile.same_subject_bundle()
    assert len(bundle) > 1_000_000
    started = time.process_time()
    with pytest.raises(CryptoError, match=r"^The upload holds \d{4} certificates; the panel reads at most 100"):
        order_chain(parse_certificates(bundle))
    assert time.process_time() - started < 1.0


def test_a_hundred_same_subject_certificates_are_ordered_without_pairwise_checks() -> None:
    certs = parse_certificates(hostile.same_subject_bundle(100 * 470))[:100]
    started = time.process_time()
    leaf, chain = order_chain(certs)
    assert (leaf, chain) == (certs[0], [])  # each is self-signed by its own key: no path between them
    assert verify_chain(leaf, chain) == []
    assert time.process_time() - started < 0.5


def test_a_same_name_chain_is_ordered_by_signatures() -> None:
    chain = hostile.same_name_chain(12)
    shuffled = [chain[0], *reversed(chain[1:])]
    leaf, path = order_chain(shuffled)
    assert (leaf, path) == (chain[0], chain[1:])
    assert verify_chain(leaf, path) == []


def test_a_same_name_chain_too_costly_to_order_is_refused_quickly() -> None:
    chain = hostile.same_name_chain(100)
    started = time.process_time()
    with pytest.raises(CryptoError, match=r"too many of them share the name 'same-chain\.example\.com'"):
        order_chain([chain[0], *reversed(chain[1:])])
    assert time.process_time() - started < 1.0


def test_order_chain_refuses_more_certificates_than_the_limit(pki: Pki) -> None:
    extra = [
        issue(
            subject=x509_name(f"n{i}"),
            public_key=pki.leaf_key.public_key(),
            issuer=x509_name(f"n{i}"),
            signing_key=pki.root_key,
            ca=False,
        )
        for i in range(100)
    ]
    with pytest.raises(CryptoError, match=r"^The upload holds 101 certificates"):
        order_chain([pki.leaf, *extra])
