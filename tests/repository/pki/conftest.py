"""Fixtures shared by the pki tests: keys and a CA hierarchy, generated once per module."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.repository.pki.builders import Pki, build_pki


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def pki(rsa_key: rsa.RSAPrivateKey) -> Pki:
    return build_pki(rsa_key)


@pytest.fixture(scope="module")
def other_pki() -> Pki:
    return build_pki(rsa.generate_private_key(65537, 2048), root_cn="Other Root")
