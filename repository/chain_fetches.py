"""A missing intermediate fetched from the certificate's AIA "CA Issuers" URL, by a worker.

Import and "complete a CSR" store the entry at once with what was uploaded; when the chain stops short of a root or
a known CA at a certificate that names a "CA Issuers" URL, they queue a `ChainFetch` row in the same transaction and
hand it to a worker after the commit. The worker downloads through the outbound guard (repository/aia.py), adds
what it found if the entry still holds the same certificate and chain, and leaves its notes on the row, which the
certificate's page shows (and follows while the row is queued). Nothing fetched by a request: a slow or hostile URL
costs a worker a few seconds, never a web process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from certpanel.celery import app as celery_app
from certpanel.dispatch import dispatch_on_commit
from repository import aia
from repository.models import Certificate, ChainFetch, ChainFetchStatus
from repository.pki.chain import missing_issuer
from repository.pki.convert import certificates_to_pem
from repository.pki.parse import parse_certificates

log = logging.getLogger(__name__)

TASK = "repository.certificate_chain_fetch"
MAX_ATTEMPTS = 3
# A queued row handed over this long ago has lost its task (a worker killed mid-way): the resume sweep sends it again.
STALE = timedelta(minutes=5)


def _fetching() -> bool:
    return bool(settings.CERTPANEL_AIA_FETCH)


def chain_notes(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> list[str]:
    """What the admin reads right after the upload: what is missing, and whether a worker is fetching it."""
    if not (_fetching() and aia.fetch_wanted(leaf, chain)):
        return aia.complete_chain(leaf, chain, fetch=False, timeout=0).notes
    missing = missing_issuer(leaf, chain)
    where = "from the certificate's \"CA Issuers\" URL in the background; the certificate's page shows the result."
    if missing is None:
        return [f"The chain does not reach a known root yet: the panel is fetching the rest {where}"]
    return [f"The intermediate certificate '{missing.rfc4514_string()}' is missing: the panel is fetching it {where}"]


def chain_fetch_queue(entry: Certificate, leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
    """Inside the caller's transaction: a queued row when the chain can be completed from AIA; a task after commit."""
    if not (_fetching() and aia.fetch_wanted(leaf, chain)):
        return False
    ChainFetch.objects.update_or_create(
        certificate=entry,
        defaults={"status": ChainFetchStatus.QUEUED, "notes": [], "attempts": 0, "dispatched_at": timezone.now()},
    )
    rows = ChainFetch.objects.filter(certificate_id=entry.pk)
    dispatch_on_commit(celery_app.signature(TASK), entry.pk, on_refused=lambda: rows.update(dispatched_at=None))
    return True


def chain_fetches_resume(now: datetime) -> list[int]:
    """Queued rows no worker has (never handed over, or handed over long ago): marked handed over now; their ids."""
    rows = ChainFetch.objects.filter(status=ChainFetchStatus.QUEUED).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - STALE)
    )
    ids = list(rows.values_list("certificate_id", flat=True))
    ChainFetch.objects.filter(certificate_id__in=ids).update(dispatched_at=now)
    return ids


def certificate_chain_fetch(certificate_id: int) -> str:
    """The worker's part: download, then store the longer chain and the notes. Idempotent; a final row is left."""
    queued = ChainFetch.objects.filter(certificate_id=certificate_id, status=ChainFetchStatus.QUEUED)
    job = queued.select_related("certificate").first()
    if job is None:
        return "gone"
    ChainFetch.objects.filter(pk=job.pk).update(attempts=F("attempts") + 1)
    if job.attempts + 1 > MAX_ATTEMPTS:
        notes = ["The worker stopped each time it fetched the chain: upload the intermediate certificate yourself."]
        return _finish(job.pk, ChainFetchStatus.FAILED, notes)
    certificate_pem, chain_pem = job.certificate.certificate_pem, job.certificate.chain_pem
    try:
        leaf = parse_certificates(certificate_pem.encode("ascii"))[0]
        chain = parse_certificates(chain_pem.encode("ascii")) if chain_pem else []
        completion = aia.complete_chain(leaf, chain, fetch=True, timeout=settings.CERTPANEL_AIA_TIMEOUT)
    except Exception:  # the row still ends; the traceback is for the server log
        log.exception("certificate #%s: chain fetch failed", certificate_id)
        return _finish(job.pk, ChainFetchStatus.FAILED, ["The panel could not complete the chain: see the server log."])
    status = ChainFetchStatus.FAILED if completion.error else ChainFetchStatus.DONE
    with transaction.atomic():
        current = Certificate.objects.select_for_update().filter(pk=certificate_id).first()
        if current is None:
            return "gone"
        unchanged = (current.certificate_pem, current.chain_pem) == (certificate_pem, chain_pem)
        if unchanged and len(completion.chain) > len(chain):  # else replaced meanwhile: the fetch was for the old one
            current.chain_pem = certificates_to_pem(completion.chain).decode("ascii")
            current.save(update_fields=["chain_pem", "updated_at"])
        _finish(job.pk, status, completion.notes)
    log.info("certificate #%s: chain fetch %s", certificate_id, status)
    return str(status)


def _finish(job_id: int, status: ChainFetchStatus, notes: list[str]) -> str:
    ChainFetch.objects.filter(pk=job_id, status=ChainFetchStatus.QUEUED).update(
        status=status, notes=notes, updated_at=timezone.now()
    )
    return str(status)
