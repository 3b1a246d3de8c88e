"""What the Users pages show: every account with its role, whether it set up two-factor login, its last login."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from certpanel.roles import Role, role_of


@dataclass(frozen=True)
class UserRow:
    user: User
    role: Role
    two_factor: bool
    last_login: datetime | None


def _users() -> QuerySet[User]:
    """Active accounts first, then by name; each with ``two_factor``: whether it has a confirmed authenticator."""
    confirmed = TOTPDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True)
    return User.objects.annotate(two_factor=Exists(confirmed)).order_by("-is_active", "username")


def _row(user: User) -> UserRow:
    return UserRow(user=user, role=role_of(user), two_factor=bool(user.two_factor), last_login=user.last_login)  # type: ignore[attr-defined]


def user_rows() -> list[UserRow]:
    return [_row(user) for user in _users()]


def user_row(user_id: int) -> UserRow | None:
    user = _users().filter(pk=user_id).first()
    return None if user is None else _row(user)
