"""Re-authentication: the password or an authenticator code again, right before the most dangerous actions.

A stolen session must not be enough to take a private key out or to point a listener's files and actions
elsewhere. The session keeps when its user last proved who they are (the login, the two-factor step, or this
form); older than CERTPANEL_REAUTH_SECONDS, such an action shows the form inside its own page, with what the admin
chose kept, and runs when the same POST carries the answer. Wrong passwords count towards the login lockout
(they go through ``authenticate``); after a few wrong answers the session is logged out.
"""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, logout, user_logged_in
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest

from certpanel.access.twofactor import totp_check

SESSION_KEY = "certpanel_reauth_at"
FAILURES_KEY = "certpanel_reauth_failures"
FIELD = "reauth_secret"
MAX_FAILURES = 5


class ReauthForm(forms.Form):
    reauth_secret = forms.CharField(
        label="Your password, or the 6-digit code of your authenticator app",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    @property
    def window(self) -> str:
        """How long a confirmation lasts, for the page: "5 minutes"."""
        seconds = settings.CERTPANEL_REAUTH_SECONDS
        if seconds < 60 or seconds % 60:
            return f"{seconds} seconds"
        return f"{seconds // 60} minute{'s' if seconds >= 120 else ''}"

    def clean_reauth_secret(self) -> str:
        secret: str = self.cleaned_data["reauth_secret"]
        if not credentials_confirm(self.request, secret):
            raise forms.ValidationError("That is neither your password nor a current code.")
        return secret


def credentials_confirm(request: HttpRequest, secret: str) -> bool:
    """The user's current TOTP code (when they have an authenticator), or their password."""
    user = request.user
    if not user.is_authenticated:
        return False
    if totp_check(user=user, code=secret):
        return True
    confirmed = authenticate(request, username=user.get_username(), password=secret)
    return confirmed is not None and confirmed.pk == user.pk


def reauth_mark(request: HttpRequest) -> None:
    request.session[SESSION_KEY] = int(time.time())
    request.session.pop(FAILURES_KEY, None)


def reauth_recent(request: HttpRequest) -> bool:
    at = request.session.get(SESSION_KEY)
    return isinstance(at, int) and 0 <= time.time() - at < settings.CERTPANEL_REAUTH_SECONDS


def reauth_confirm(request: HttpRequest) -> ReauthForm | None:
    """None: go ahead (recent enough, or this POST carries the right answer). Otherwise the form to show in the
    action's page, which posts everything again with the answer. Too many wrong answers log the session out."""
    if reauth_recent(request):
        return None
    if FIELD not in request.POST:
        return ReauthForm(request)
    form = ReauthForm(request, request.POST)
    if form.is_valid():
        reauth_mark(request)
        return None
    failures = int(request.session.get(FAILURES_KEY, 0)) + 1
    if failures >= MAX_FAILURES:
        logout(request)
        raise PermissionDenied("Too many wrong answers to “confirm it's you”: you have been logged out.")
    request.session[FAILURES_KEY] = failures
    return form


@receiver(user_logged_in, dispatch_uid="certpanel.access.reauth.login")
def _login_is_recent_auth(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """Logging in with the password proves who one is, as the re-authentication form does."""
    if request is not None and hasattr(request, "session"):
        reauth_mark(request)
