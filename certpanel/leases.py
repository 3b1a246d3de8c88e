"""Row leases: one worker at a time drives a row (an ACME order, a deployment, an outbox email).

A lease is two columns on the row: ``lease_until`` (when it runs out) and an owner column holding a random token.
Taking it is one conditional UPDATE that succeeds only while the lease is free (never taken, released or run out),
so two workers racing for a row cannot both win, on SQLite or PostgreSQL alike. Renewing and releasing match the
token, so a worker whose lease ran out and was taken over finds out at its next write instead of writing over the
new holder's work. A worker that dies simply stops renewing: the lease runs out and a sweep hands the row on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Model, Q, QuerySet
from django.utils import timezone


def lease_free(now: datetime) -> Q:
    """Rows nobody holds at ``now``."""
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


@dataclass(frozen=True)
class Lease:
    """How one model's rows are leased.

    ``seconds`` is read at every use (it comes from settings, which tests and operators change); ``owner`` names the
    token column.
    """

    seconds: Callable[[], int]
    owner: str = "lease_owner"

    def until(self, now: datetime | None = None) -> datetime:
        return (now or timezone.now()) + timedelta(seconds=self.seconds())

    def take(self, rows: QuerySet[Any], *, now: datetime | None = None, **values: Any) -> str | None:
        """Lease the free rows of ``rows`` (one row, in practice); the token, or None if someone holds it.

        ``values`` are written in the same UPDATE (an attempt counter, say), so they count only for the winner.
        """
        now = now or timezone.now()
        token = secrets.token_hex(16)
        taken = rows.filter(lease_free(now)).update(lease_until=self.until(now), **{self.owner: token}, **values)
        return token if taken else None

    def grant(self, rows: QuerySet[Any], **values: Any) -> str:
        """Lease rows the caller has already decided are free (it holds a row lock and checked more than time)."""
        token = secrets.token_hex(16)
        rows.update(lease_until=self.until(), **{self.owner: token}, **values)
        return token

    def renew(self, rows: QuerySet[Any], token: str, **values: Any) -> bool:
        """Extend the lease (writing ``values`` with it); False when ``token`` no longer holds it."""
        return bool(rows.filter(**{self.owner: token}).update(lease_until=self.until(), **values))

    def release(self, rows: QuerySet[Any], token: str, **values: Any) -> bool:
        """Give the lease back (writing ``values`` with it); False when ``token`` no longer held it."""
        return bool(rows.filter(**{self.owner: token}).update(lease_until=None, **{self.owner: ""}, **values))


def rows_of(model: type[Model], pk: int) -> QuerySet[Any]:
    """The one-row queryset a lease works on."""
    return model._default_manager.filter(pk=pk)
