"""The panel's three roles, as Django's own flags: no table, no migration, and Django's admin agrees with them.

- **Admin** (``is_superuser`` and ``is_staff``): everything, including users and settings.
- **Operator** (``is_staff``): certificates and services, no users or settings.
- **Read-only** (neither): sees everything, changes nothing, is never offered a private-key export.

A superuser without ``is_staff`` (only Django's admin can make one) counts as read-only: what a user may do is read
from ``is_staff`` first, so such an account can never change more than it is shown. Pure: reads and sets flags on a
user object; saving is the caller's (certpanel/accounts/actions.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Flagged(Protocol):
    is_staff: bool
    is_superuser: bool


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    READ_ONLY = "read-only"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def explanation(self) -> str:
        return ROLE_EXPLANATIONS[self]


ROLE_LABELS = {Role.ADMIN: "Admin", Role.OPERATOR: "Operator", Role.READ_ONLY: "Read-only"}
ROLE_EXPLANATIONS = {
    Role.ADMIN: "everything, including users and settings.",
    Role.OPERATOR: "certificates and services, no users or settings.",
    Role.READ_ONLY: "sees everything, changes nothing, never offered a private-key export.",
}
ROLE_CHOICES = [(role.value, role.label) for role in Role]


def role_of(user: object) -> Role:
    """The role of a user; anonymous users (and anything without the flags) are read-only."""
    if not getattr(user, "is_staff", False):
        return Role.READ_ONLY
    return Role.ADMIN if getattr(user, "is_superuser", False) else Role.OPERATOR


def role_set(user: Flagged, role: Role) -> None:
    """Set the flags of `role` on `user` (not saved)."""
    user.is_staff = role in (Role.ADMIN, Role.OPERATOR)
    user.is_superuser = role is Role.ADMIN


def role_flags(role: Role) -> dict[str, bool]:
    """The flags of a role, as filter or create keyword arguments."""
    return {"is_staff": role in (Role.ADMIN, Role.OPERATOR), "is_superuser": role is Role.ADMIN}


def may_change(user: object) -> bool:
    """Certificates and services: operators and admins."""
    return role_of(user) is not Role.READ_ONLY


def may_administer(user: object) -> bool:
    """Users and settings: admins only."""
    return role_of(user) is Role.ADMIN


def may_export_keys(user: object) -> bool:
    """Private keys leave the panel only for those who may change it; read-only users are never offered one."""
    return may_change(user)
