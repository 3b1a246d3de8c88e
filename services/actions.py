"""Writes to listeners."""

from __future__ import annotations

import logging

from repository.models import Certificate
from services.models import Listener

log = logging.getLogger(__name__)


def listeners_move_certificate(*, old: Certificate, new: Certificate) -> list[str]:
    """The renewal hook: every listener on ``old`` now serves ``new``. Returns their names.

    Called inside the renewal's transaction, so listeners never point at a half-stored certificate.
    """
    listeners = list(Listener.objects.select_for_update().filter(certificate=old))
    for listener in listeners:
        listener.certificate = new
        listener.save(update_fields=["certificate"])
    if listeners:
        log.info("certificate #%s replaced #%s on %s", new.pk, old.pk, ", ".join(item.name for item in listeners))
    return [listener.name for listener in listeners]
