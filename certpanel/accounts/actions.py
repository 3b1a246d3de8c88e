"""Every write on a user account, each in one transaction. The guard rails live here, not in the views: no one
deactivates or demotes themselves, and the panel always keeps one active admin. Every action that may take an admin
away first locks the rows of the active admins, so two admins demoting each other at once cannot both succeed.

A password reset or a deactivation ends the user's sessions: Django checks a session against the password it was
opened with (and against ``is_active``) on every request. A two-factor reset deletes them: a session that already
gave a code must not be the one that sets up the next authenticator.
"""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from certpanel.access.twofactor import twofactor_enabled, twofactor_reset
from certpanel.audit.actions import AuditAction, audit_record
from certpanel.errors import PanelError
from certpanel.roles import Role, role_flags, role_of, role_set


class AccountError(PanelError):
    """A refused change; ``field`` names the form field the message belongs next to (None: the whole form)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ASCII only: a name in the list, in key exports and in the history must not pass for another (a Cyrillic a, say).
USERNAME = ASCIIUsernameValidator(
    message="Enter a valid username: letters a to z (no accents), digits and @ . + - _ only."
)
LAST_ADMIN = (
    "{name} is the last active admin: make another user an admin first, or no one would be left to manage users "
    "and settings."
)


def _locked(user_id: int) -> tuple[User, int]:
    """The user's row and the number of active admins, all locked until the transaction ends (admins in id order,
    then the user, so every user write takes its locks in the same order)."""
    admins = list(
        User.objects.select_for_update()
        .filter(is_active=True, **role_flags(Role.ADMIN))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    try:
        user = User.objects.select_for_update().get(pk=user_id)
    except User.DoesNotExist:
        raise AccountError("That user no longer exists.") from None
    return user, len(admins)


def _password_check(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages), field="password") from None


def _not_yourself(user: User, by: User | None, refusal: str) -> None:
    if by is not None and by.pk == user.pk:
        raise AccountError(refusal)


def user_create(*, username: str, email: str, role: Role, password: str, by: User | None = None) -> User:
    """A new, active account with its role; the user sets up two-factor login at the first login."""
    try:
        USERNAME(username)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages), field="username") from None
    user = User(username=username, email=email)
    role_set(user, role)
    _password_check(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                raise AccountError(f"There is already a user named {username}.", field="username")
            user.save()
            detail = f"role {role.label}" + (f", email {email}" if email else "")
            audit_record(action=AuditAction.USER_ADD, actor=by, target=user, detail=detail)
    except IntegrityError:  # created by another request between the check and the insert
        raise AccountError(f"There is already a user named {username}.", field="username") from None
    return user


def user_set_role(*, user_id: int, role: Role, by: User | None = None) -> User:
    with transaction.atomic():
        user, admins = _locked(user_id)
        before = role_of(user)
        if before is role:
            return user
        _not_yourself(user, by, "You cannot change your own role: another admin has to.")
        if before is Role.ADMIN and user.is_active and admins <= 1:
            raise AccountError(LAST_ADMIN.format(name=user.get_username()))
        role_set(user, role)
        user.save(update_fields=["is_staff", "is_superuser"])
        detail = f"role {before.label} → {role.label}"
        audit_record(action=AuditAction.USER_CHANGE, actor=by, target=user, detail=detail)
    return user


def user_deactivate(*, user_id: int, by: User | None = None) -> User:
    """The account stays (its name in key exports and history) but can no longer log in; its sessions end."""
    with transaction.atomic():
        user, admins = _locked(user_id)
        if not user.is_active:
            return user
        _not_yourself(user, by, "You cannot deactivate your own account: another admin has to.")
        if role_of(user) is Role.ADMIN and admins <= 1:
            raise AccountError(LAST_ADMIN.format(name=user.get_username()))
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(action=AuditAction.USER_DEACTIVATE, actor=by, target=user)
    return user


def user_activate(*, user_id: int, by: User | None = None) -> User:
    with transaction.atomic():
        user, _ = _locked(user_id)
        if not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
            audit_record(action=AuditAction.USER_ACTIVATE, actor=by, target=user)
    return user


def user_password_reset(*, user_id: int, password: str, by: User | None = None) -> User:
    """An admin sets a new password for someone else (one's own is changed under Password); their sessions end."""
    with transaction.atomic():
        user, _ = _locked(user_id)
        _not_yourself(user, by, "Change your own password under Password, with your current one.")
        _password_check(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(action=AuditAction.USER_PASSWORD_RESET, actor=by, target=user)
    return user


def user_twofactor_reset(*, user_id: int, by: User | None = None) -> User:
    """Forget someone else's authenticator and recovery codes (a lost phone): their sessions end, and the next login
    sets up a new authenticator. One's own is reset under "Two-factor login", with a current code."""
    with transaction.atomic():
        user, _ = _locked(user_id)
        _not_yourself(user, by, "Reset your own two-factor login under Two-factor login.")
        if not twofactor_enabled(user):
            raise AccountError(f"{user.get_username()} has no two-factor login set up: there is nothing to reset.")
        twofactor_reset(user=user, actor=by)  # writes the audit row, in this transaction
        _sessions_end(user)
    return user


def _sessions_end(user: User) -> None:
    """Delete the user's open sessions (database sessions hold the user id only inside their encoded data)."""
    ended = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now())
        if session.get_decoded().get("_auth_user_id") == str(user.pk)
    ]
    Session.objects.filter(pk__in=ended).delete()
