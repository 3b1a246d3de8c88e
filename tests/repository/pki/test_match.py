"""Tests for repository.pki.match: whether keys, certificates and CSRs belong together.

Every key and certificate is generated at test time; no key material is committed.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from repository.pki.generate import SubjectFields, create_csr
from repository.pki.match import public_key_matches
from tests.repository.pki.builders import Pki


def test_public_key_matches_compares_keys_certificates_and_csrs(pki: Pki, ec_key: ec.EllipticCurvePrivateKey) -> None:
    csr = create_csr(key=pki.leaf_key, subject=SubjectFields("mail.example.com"), sans=[])
    assert public_key_matches(pki.leaf_key, pki.leaf)
    assert public_key_matches(pki.leaf_key.public_key(), csr)
    assert not public_key_matches(ec_key, pki.leaf)
