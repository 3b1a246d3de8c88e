"""What services does when the repository reports a change (repository/events.py).

Connected in ``ServicesConfig.ready()``: repository never imports services, services listens.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from repository.events import certificate_replaced
from repository.models import Certificate
from services.actions import listeners_move_certificate


@receiver(certificate_replaced, dispatch_uid="services.listeners_follow_renewal")
def listeners_follow_renewal(sender: Any, *, old: Certificate, new: Certificate, **kwargs: Any) -> None:
    """A renewal's certificate takes over every listener (and SNI name) of the one it replaces, in the renewal's
    transaction, and their deployments are queued once it commits."""
    listeners_move_certificate(old=old, new=new)
