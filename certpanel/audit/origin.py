"""What acts when no user is given, and from which address: stated once by each entry point (no models here, so
the Celery task base and the command base can import it before the apps are ready)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    name: str = "system"
    ip: str | None = None


SYSTEM = Origin()
_origin: ContextVar[Origin | None] = ContextVar("certpanel_audit_origin", default=None)


def current_origin() -> Origin:
    return _origin.get() or SYSTEM


@contextmanager
def acting_as(name: str, *, ip: str | None = None) -> Iterator[None]:
    """Within the block, rows without a user are recorded as ``name`` (and from ``ip``)."""
    token = _origin.set(Origin(name=name, ip=ip))
    try:
        yield
    finally:
        _origin.reset(token)
