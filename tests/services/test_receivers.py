"""services hears the repository's events (repository/events.py → services/receivers.py): a stored renewal moves
the old certificate's listeners and SNI names to the new one, in the renewal's own transaction."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from repository.acme.outcomes import certificate_store_issued
from repository.actions import certificate_create_self_signed
from repository.events import certificate_replaced
from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeOrder, Certificate
from services.models import Deployment, Listener, SniCertificate
from tests.support.factories import CA, ec_key, pem

pytestmark = pytest.mark.django_db


def _renewal(ca: CA) -> tuple[AcmeOrder, str, Listener]:
    """An order renewing a certificate that a listener serves (and an SNI name of it), and what the CA issued."""
    account = AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))
    old = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, certificate=old)
    SniCertificate.objects.create(listener=listener, server_name="mail.example.com", certificate=old)
    key = ec_key()
    order = AcmeOrder.objects.create(
        account=account,
        hostnames=["mail.example.com"],
        names_digest="digest",
        key_type="ec256",
        key=key_store(key),
        replaces=old,
    )
    fullchain = pem(ca.issue(key.public_key(), ["mail.example.com"]), ca.intermediate).decode()
    return order, fullchain, listener


def test_a_stored_renewal_moves_the_listeners_and_sni_names_and_queues_their_deployment(ca: CA) -> None:
    order, fullchain, listener = _renewal(ca)
    with transaction.atomic():
        new = certificate_store_issued(order, fullchain)
    listener.refresh_from_db()
    assert listener.certificate_id == new.pk
    assert list(SniCertificate.objects.values_list("certificate_id", flat=True)) == [new.pk]
    assert list(Deployment.objects.values_list("listener_id", "trigger")) == [(listener.pk, "renewal")]


def test_a_failing_receiver_rolls_the_renewal_back_with_it(ca: CA) -> None:
    """The event is sent inside the renewal's transaction: listeners never point at a half-stored certificate,
    and a renewal whose listeners could not follow is not stored either."""
    order, fullchain, listener = _renewal(ca)

    def refuse(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("a receiver failed")

    certificate_replaced.connect(refuse, dispatch_uid="test.refuse")
    try:
        with pytest.raises(RuntimeError, match="a receiver failed"), transaction.atomic():
            certificate_store_issued(order, fullchain)
    finally:
        certificate_replaced.disconnect(dispatch_uid="test.refuse")
    listener.refresh_from_db()
    assert listener.certificate_id == order.replaces_id
    assert Certificate.objects.count() == 1 and not Deployment.objects.exists()
