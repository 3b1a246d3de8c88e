"""What an issued ACME order does to the repository: the certificate stored with its first renewal plan, and for a
renewal, in the old one's place (the world hears it through ``events.certificate_replaced``).

Called by orders.py when the CA has issued; a failed renewal's backoff is renewals.py's (``renewal_failed``).
"""

from __future__ import annotations

from repository import emails, events
from repository.acme.renewals import certificate_schedule_renewal
from repository.actions import fill_from_x509
from repository.keystore import key_load
from repository.models import AcmeOrder, Certificate, CertificateSource
from repository.pki.chain import order_chain
from repository.pki.parse import parse_certificates


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
        reuse_key=order.reuse_key,
        acme_challenge=order.challenge_type,
        renewed_from=order.replaces,
        created_by=order.created_by,
    )
    fill_from_x509(entry, leaf, chain)
    certificate_schedule_renewal(entry)
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
