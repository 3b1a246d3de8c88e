"""repository/tasks.py: how soon a transient ACME error is retried, and an order handed over while the broker is
down (the real thing, a stopped Redis: tests/test_browser.py)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from certpanel.models import BrokerOutage
from repository.acme.orders import acme_order_create, acme_orders_to_resume
from repository.acme.problems import explain
from repository.keystore import key_store
from repository.models import AcmeAccount
from repository.tasks import _countdown, queue_order
from tests.support.factories import ec_key


def test_rejected_nonces_are_tried_again_within_a_second_while_other_errors_back_off() -> None:
    nonce = explain({"type": "urn:ietf:params:acme:error:badNonce"})
    busy = explain({"type": "urn:ietf:params:acme:error:serverInternal"})
    assert [_countdown(n, nonce) for n in range(5)] == [1.0] * 5
    assert [_countdown(n, busy) for n in range(3)] == [5, 10, 20]


@pytest.mark.django_db(transaction=True)
def test_queue_order_with_the_broker_down_stores_the_order_as_waiting_and_records_the_outage(
    broker_down: None,
) -> None:
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    order = acme_order_create(account=account, hostnames=["mail.example.com"])
    assert queue_order(order.pk) is False
    order.refresh_from_db()
    assert order.dispatched_at is None and order.status == "queued"
    assert BrokerOutage.objects.exists()
    assert acme_orders_to_resume(timezone.now()) == [order.pk]
