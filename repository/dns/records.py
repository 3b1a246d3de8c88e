"""The TXT records the panel puts into zones, each a DnsChallengeRecord row: publish, remove, clean up after an order,
and sweep what a dead worker left.

The row is committed BEFORE the update is sent: a worker killed between the two leaves a row with no
``removed_at``, and ``dns_records_sweep`` (the renewal sweep calls it) removes the record once its order has ended,
or after ``ORPHAN_AFTER`` when it has none. Removal deletes only that value (rfc2136.txt_delete) and may be
repeated, so two workers (or a retry after a crash) removing the same record do no harm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from repository.dns.providers import dns_provider_connection
from repository.dns.rfc2136 import txt_add, txt_delete
from repository.errors import DnsError, DnsUnavailable, KeyStoreError
from repository.models import ACTIVE_STATUSES, AcmeOrder, DnsChallengeRecord, DnsProvider

log = logging.getLogger(__name__)

# A record with no order and older than this is left over: long enough for any `dns test` to have finished.
ORPHAN_AFTER = timedelta(minutes=30)
KEEP_REMOVED = timedelta(days=30)  # removed records stay this long, for a post-mortem
MAX_VALUE = 255  # the column's size; an ACME key authorization digest is 43


def dns_record_publish(
    *, provider: DnsProvider, fqdn: str, value: str, zone: str = "", order: AcmeOrder | None = None
) -> DnsChallengeRecord:
    """Add TXT ``value`` at ``fqdn`` (the zone defaults to the provider's; targets.py finds a deeper one). The row
    exists before the update is sent. A refusal (nothing was changed) closes the row and raises; no answer
    (DnsUnavailable: the update may or may not have been applied) leaves it for removal, and raises."""
    if len(value) > MAX_VALUE or len(fqdn) > 253:
        raise DnsError(f"A TXT value over {MAX_VALUE} characters or a name over 253 is not a challenge record.")
    record = DnsChallengeRecord.objects.create(
        provider=provider, zone=zone or provider.zone, fqdn=fqdn, value=value, order=order
    )
    try:
        connection = dns_provider_connection(provider)
        txt_add(connection.server, record.zone, fqdn, value, connection.tsig)
    except DnsUnavailable as exc:
        _note_error(record, str(exc))
        raise
    except (DnsError, KeyStoreError) as exc:
        _note_error(record, str(exc), removed=True)
        raise
    return record


def dns_record_remove(record: DnsChallengeRecord) -> DnsChallengeRecord:
    """Delete the record's value from its zone and close the row; nothing to do when it is closed already."""
    record.refresh_from_db()
    if record.removed_at is not None:
        return record
    try:
        connection = dns_provider_connection(record.provider)
        txt_delete(connection.server, record.zone, record.fqdn, record.value, connection.tsig)
    except (DnsError, KeyStoreError) as exc:
        _note_error(record, f"could not remove it: {exc}")
        raise
    DnsChallengeRecord.objects.filter(pk=record.pk, removed_at__isnull=True).update(removed_at=timezone.now(), error="")
    record.refresh_from_db()
    return record


def _note_error(record: DnsChallengeRecord, message: str, *, removed: bool = False) -> None:
    record.error = message[:2000]
    fields = ["error"]
    if removed:
        record.removed_at = timezone.now()
        fields.append("removed_at")
    record.save(update_fields=fields)


@dataclass
class Cleanup:
    removed: int = 0
    failed: list[str] = field(default_factory=list)  # one sentence per record still in DNS


def _remove_all(records: QuerySet[DnsChallengeRecord]) -> Cleanup:
    outcome = Cleanup()
    for record in records.select_related("provider"):
        try:
            dns_record_remove(record)
        except (DnsError, KeyStoreError) as exc:
            outcome.failed.append(f"TXT {record.fqdn} in zone {record.zone}: {exc}")
        else:
            outcome.removed += 1
    return outcome


def dns_records_live() -> QuerySet[DnsChallengeRecord]:
    return DnsChallengeRecord.objects.filter(removed_at__isnull=True)


def dns_records_cleanup(order: AcmeOrder) -> Cleanup:
    """Remove what ``order`` added, and only that (another order's record at the same name stays)."""
    return _remove_all(dns_records_live().filter(order=order))


def dns_records_remove_for_provider(provider: DnsProvider) -> Cleanup:
    """Before a provider is deleted: take its records out of the zone while the panel still has the key."""
    return _remove_all(dns_records_live().filter(provider=provider))


def dns_records_orphaned(now: datetime, *, older_than: timedelta = ORPHAN_AFTER) -> QuerySet[DnsChallengeRecord]:
    """Live records no active order needs: at once when their order has ended (its own cleanup failed, or its
    worker died before it), after ``older_than`` when they have no order (a test's; an order deleted since). A
    record of an active order stays, however old: the order's worker, or the one resuming it, still needs it."""
    ended = Q(order__isnull=False) & ~Q(order__status__in=ACTIVE_STATUSES)
    return dns_records_live().filter(ended | Q(order__isnull=True, created_at__lt=now - older_than))


def dns_records_sweep(now: datetime | None = None, *, older_than: timedelta = ORPHAN_AFTER) -> Cleanup:
    """The renewal sweep's hook: remove orphaned records (a failure stays for the next sweep, and is logged), and
    forget rows removed more than ``KEEP_REMOVED`` ago."""
    now = now or timezone.now()
    outcome = _remove_all(dns_records_orphaned(now, older_than=older_than))
    DnsChallengeRecord.objects.filter(removed_at__lt=now - KEEP_REMOVED).delete()
    for failure in outcome.failed:
        log.warning("DNS record left in place: %s", failure)
    return outcome
