"""``audit_record``: the one writer of AuditEvent rows, called by every action inside its transaction."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import models

from certpanel.audit.origin import current_origin
from certpanel.models import AuditEvent

AuditAction = AuditEvent.Action
DETAIL_MAX = 2000


def _label(target: models.Model) -> str:
    if isinstance(target, AbstractBaseUser):
        return target.get_username()
    if hostnames := getattr(target, "hostnames", None):  # an ACME order: its names, not its status then
        return f"order #{target.pk} for {', '.join(hostnames)}"
    return str(getattr(target, "name", "") or target)


def audit_record(
    *,
    action: AuditAction,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    actor_name: str | None = None,
    target: models.Model | None = None,
    detail: str = "",
    ip: str | None = None,
) -> AuditEvent:
    """One row, in the caller's transaction. ``detail`` is shown to every user: never put a secret in it."""
    if action not in AuditAction.values:
        raise ValueError(f"'{action}' is not an audit action: add it to AuditEvent.Action.")
    origin = current_origin()
    user = actor if isinstance(actor, User) and actor.is_authenticated else None
    event = AuditEvent(
        actor=user,
        actor_name=(actor_name or (user.get_username() if user is not None else origin.name))[:160],
        action=action,
        detail=detail[:DETAIL_MAX],
        ip=ip or origin.ip,
    )
    if target is not None:
        event.target_type = target._meta.label_lower
        event.target_id = str(target.pk or "")[:40]
        event.target_label = _label(target)[:255]
    event.save()
    return event


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> str:
    """ "port 25 → 2525, host '' → 'mail.example.org'": what an edit changed, for ``detail`` (never pass secrets)."""
    return ", ".join(
        f"{key} {before.get(key)!r} → {value!r}" for key, value in after.items() if before.get(key) != value
    )
