"""The ACME tests' account (a CA that is never asked) and a loopback CA that answers ARI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from repository.keystore import key_store
from repository.models import AcmeAccount
from tests.repository.acme.fake_ari import FakeCA, fake_ari_ca
from tests.support.factories import ec_key


@pytest.fixture
def account(db: None) -> AcmeAccount:
    return AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))


@pytest.fixture
def fake_ca() -> Iterator[FakeCA]:
    with fake_ari_ca() as state:
        yield state
