"""What the end of an ACME order does to the repository: the issued certificate stored (for a renewal, in the
old one's place, which the world hears through ``events.certificate_replaced``), or, for a failed renewal,
the backoff and the admins told once per incident.

Called by repository/acme/orders.py; the renewal arithmetic is repository/acme/schedule.py's.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from repository import emails, events
from repository.acme import schedule
from repository.actions import fill_from_x509
from repository.keystore import key_load
from repository.models import AcmeOrder, Certificate, CertificateSource
from repository.pki.chain import order_chain
from repository.pki.parse import parse_certificates

log = logging.getLogger(__name__)


def certificate_store_issued(order: AcmeOrder, fullchain_pem: str) -> Certificate:
    """Store what the CA issued; for a renewal, the new certificate takes the old one's place."""
    certificates = parse_certificates(fullchain_pem.encode())
    assert order.key is not None, "an order is finalized with its key, so an issued one has it"
    leaf, chain = order_chain(certificates, leaf_key=key_load(order.key))
    entry = Certificate(
        name=order.hostnames[0],
        source=CertificateSource.ACME,
        key=order.key,
        auto_renew=order.auto_renew,
        acme_account=order.account,
        acme_profile=order.profile,
        renewed_from=order.replaces,
        created_by=order.created_by,
    )
    fill_from_x509(entry, leaf, chain)
    assert entry.not_before and entry.not_after, "fill_from_x509 sets both from the leaf"
    plan = schedule.lifetime_plan(entry.not_before, entry.not_after)
    entry.renew_at = plan.renew_at if order.auto_renew else None
    entry.renewal_rule = plan.rule
    entry.ari_next_check = timezone.now() if order.auto_renew else None
    entry.save()
    if order.replaces_id is not None:
        _replace(Certificate.objects.select_for_update().get(pk=order.replaces_id), entry)
    return entry


def _replace(old: Certificate, new: Certificate) -> None:
    old.auto_renew, old.renew_at, old.ari_next_check = False, None, None
    old.save(update_fields=["auto_renew", "renew_at", "ari_next_check", "updated_at"])
    # In the renewal's transaction: whatever served ``old`` (services' listeners) follows ``new`` or nothing does.
    events.certificate_replaced.send(sender=Certificate, old=old, new=new)
    if old.failure_notified:
        # Queued in the transaction that stores the new certificate (the outbox sends it once committed).
        emails.queue_renewal_recovered(
            to=emails.notify_to(),
            notice=emails.certificate_notice(new),
            attempts=old.renewal_failures + 1,
            new_not_after=new.not_after,
        )


def renewal_failed(entry: Certificate, error: str, *, now: datetime | None = None) -> Certificate:
    """Back off (1 min, 10 min, 100 min, daily) and tell the admins once per incident."""
    now = now or timezone.now()
    with transaction.atomic():
        entry = Certificate.objects.select_for_update().get(pk=entry.pk)
        entry.renewal_failures += 1
        entry.last_error = error
        entry.renew_at = schedule.next_attempt(entry.renewal_failures, now, entry.not_after)
        first = not entry.failure_notified
        entry.failure_notified = True
        entry.save(update_fields=["renewal_failures", "last_error", "renew_at", "failure_notified", "updated_at"])
        if first:
            # Same transaction as failure_notified: the incident counts as notified once its email is queued.
            emails.queue_renewal_failed(
                to=emails.notify_to(),
                notice=emails.certificate_notice(entry),
                error=error,
                attempts=entry.renewal_failures,
                next_attempt=entry.renew_at,
            )
    log.warning(
        "renewal of #%s failed (%d in a row), next try %s: %s", entry.pk, entry.renewal_failures, entry.renew_at, error
    )
    return entry
