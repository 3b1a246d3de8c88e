"""Until a password-authenticated session has also given a code, every page sends it to the two-factor step.

What stays reachable: the views anyone may see (marked ``login_not_required``: login, health, the ACME challenge;
static files never get here) and the two-factor steps themselves plus logout (marked ``twofactor_step``). Everything
else, the admin site included, redirects to the code step, which sends a user without an authenticator to set one
up. With CERTPANEL_REQUIRE_2FA off, only users who set up an authenticator are asked for its code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

from certpanel.access.twofactor import twofactor_enabled

View = Callable[..., HttpResponseBase]


def twofactor_step(view: View) -> View:
    """Mark a view a session that has not given its code yet may reach (the steps themselves, logout)."""
    view.twofactor_step = True  # type: ignore[attr-defined]  # read by the middleware, like login_required
    return view


def twofactor_verified(request: HttpRequest) -> bool:
    """Set by django-otp's OTPMiddleware from the session: the device that verified this login, if any."""
    return getattr(request.user, "otp_device", None) is not None


def twofactor_pending(request: HttpRequest) -> bool:
    """A logged-in session that still owes its code (or the setup of an authenticator)."""
    user = request.user
    if not user.is_authenticated or twofactor_verified(request):
        return False
    if settings.CERTPANEL_REQUIRE_2FA:
        return True
    # The gate asks, then the page frame: one query a request (a view that sets up a device redirects after).
    known: bool | None = getattr(request, "_twofactor_enabled", None)
    if known is None:
        known = twofactor_enabled(user)
        request._twofactor_enabled = known  # type: ignore[attr-defined]
    return known


class TwoFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: View, view_args: list[Any], view_kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        if not getattr(view_func, "login_required", True) or getattr(view_func, "twofactor_step", False):
            return None
        if not twofactor_pending(request):
            return None
        return redirect_to_login(request.get_full_path(), reverse("twofactor_verify"))
