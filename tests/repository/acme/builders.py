"""Rows the ACME tests start from: a stored certificate (no key, a placeholder PEM) and an order that stopped moving."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from repository.models import AcmeOrder, Certificate


def stored_certificate(name: str, **fields: object) -> Certificate:
    now = timezone.now()
    values: dict[str, object] = {
        "source": "acme",
        "certificate_pem": "stored",
        "not_before": now - timedelta(days=60),
        "not_after": now + timedelta(days=30),
        "sans": [name],
        "fingerprint_sha256": name,
        "key_type": "ec256",
    }
    values.update(fields)
    return Certificate.objects.create(name=name, **values)


def stall_order(order: AcmeOrder, *, minutes: int, **fields: object) -> None:
    AcmeOrder.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes), **fields)
