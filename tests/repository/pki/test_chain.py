"""Tests for repository.pki.chain: ordering and verifying chains.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from repository.errors import CryptoError
from repository.pki.chain import aia_ca_issuers_urls, missing_issuer, order_chain, path_ends_at_root, verify_chain
from repository.pki.generate import create_self_signed
from tests.repository.pki.builders import AIA_URL, NOW, Pki, issue, x509_name


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
