"""Logins, failed logins and logouts, from django.contrib.auth's signals (connected in CertpanelConfig.ready).

A failed login is recorded once: Django sends ``user_login_failed`` once per failed ``authenticate()``, also when
django-axes refuses a locked-out name (then the detail says so). Only the user name tried is kept, never the
password. A wrong password in "confirm it's you" comes through the same signal from a logged-in user: it is
recorded as that, not as a failed login.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.urls import reverse

from certpanel.audit.actions import AuditAction, audit_record

NAME_MAX = 150


def on_logged_in(sender: object, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any) -> None:
    audit_record(action=AuditAction.LOGIN, actor=user, target=user)


def on_logged_out(sender: object, request: HttpRequest | None, user: AbstractBaseUser | None, **kwargs: Any) -> None:
    if user is None:
        return  # nobody was logged in
    by_hand = request is not None and request.path == reverse("logout")
    detail = "" if by_hand else "ended by the panel (session timeout or too many wrong answers)"
    audit_record(action=AuditAction.LOGOUT, actor=user, target=user, detail=detail)


def on_login_failed(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    tried = str(credentials.get("username") or "")[:NAME_MAX]
    current = getattr(request, "user", None)
    if isinstance(current, AbstractBaseUser) and current.is_authenticated:
        audit_record(action=AuditAction.REAUTH_FAILED, actor=current, target=current, detail="wrong password or code")
        return
    locked = bool(getattr(request, "axes_locked_out", False))
    detail = "refused: too many failed logins (locked out)" if locked else "wrong user name or password"
    audit_record(action=AuditAction.LOGIN_FAILED, actor_name=tried or "(no user name)", detail=detail)
