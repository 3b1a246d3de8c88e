"""The two-factor pages: the code step after the password, the setup of an authenticator, and "Two-factor login".

Log in with the password → no authenticator yet: "Set up two-factor login" (the secret as text and as a QR code,
then a code to confirm) → the ten recovery codes, shown once → the panel. With an authenticator: password → "Enter
the 6-digit code or a recovery code" → the panel. A session that has an authenticator but has not given its code can
never reach the setup page: it could otherwise replace the device.
"""

from __future__ import annotations

from urllib.parse import urlencode

import django_otp
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from certpanel.access import twofactor
from certpanel.access.gate import twofactor_pending, twofactor_step, twofactor_verified
from certpanel.access.reauth import ReauthForm, reauth_confirm, reauth_mark, reauth_recent
from certpanel.audit.actions import AuditAction, audit_record
from certpanel.web import form_data, safe_next


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label="6-digit code or recovery code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )


class SetupForm(forms.Form):
    code = forms.CharField(
        max_length=16,
        label="6-digit code from your authenticator app",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "numeric"}),
    )


def _user(request: HttpRequest) -> User:
    """The logged-in user (LoginRequiredMiddleware lets no one else reach these pages)."""
    if not isinstance(request.user, User):
        raise PermissionDenied("Log in first.")
    return request.user


def _next_url(request: HttpRequest) -> str:
    return safe_next(request) or resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _verified(request: HttpRequest, device: object) -> None:
    """The second factor is in: the session remembers the device, gets a new id, and counts as a recent login."""
    django_otp.login(request, device)
    request.session.cycle_key()
    reauth_mark(request)


def _recovery_codes_page(request: HttpRequest, codes: list[str], next_url: str) -> HttpResponse:
    """Shown once, in the answer to the POST that made them: there is no page to come back to."""
    response = render(request, "registration/twofactor_recovery_codes.html", {"codes": codes, "next": next_url})
    add_never_cache_headers(response)
    return response


@twofactor_step
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponseBase:
    next_url = _next_url(request)
    if not twofactor_pending(request):
        return redirect(next_url)
    user = _user(request)
    if not twofactor.twofactor_enabled(user):
        return redirect(_with_next("twofactor_setup", next_url))
    form = CodeForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            device = twofactor.code_verify(user=user, code=form.cleaned_data["code"])
        except twofactor.TwoFactorError as exc:
            audit_record(action=AuditAction.LOGIN_FAILED, actor=user, target=user, detail="two-factor code refused")
            form.add_error("code", str(exc))
        else:
            _verified(request, device)
            if twofactor.is_recovery_device(device):
                left = twofactor.recovery_codes_left(user)
                messages.warning(
                    request,
                    f"You logged in with a recovery code; {left} left. Lost your authenticator? Reset two-factor "
                    "login on the Two-factor login page; running low? Make new recovery codes there.",
                )
            return redirect(next_url)
    return render(request, "registration/twofactor_verify.html", {"form": form, "next": next_url})


@twofactor_step
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponseBase:
    next_url = _next_url(request)
    user = _user(request)
    if twofactor.twofactor_enabled(user):
        # Only a reset (after re-authenticating) replaces an authenticator, never this page.
        return redirect("twofactor_manage" if twofactor_verified(request) else _with_next("twofactor_verify", next_url))
    form = SetupForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = twofactor.enrollment_confirm(user=user, code=form.cleaned_data["code"])
        except twofactor.TwoFactorError as exc:
            form.add_error("code", str(exc))
        else:
            _verified(request, device)
            return _recovery_codes_page(request, codes, next_url)
    enrollment = twofactor.enrollment_start(user=user)
    context = {
        "form": form,
        "next": next_url,
        "secret": enrollment.secret,
        "uri": enrollment.uri,
        "qr_svg": mark_safe(enrollment.qr_svg),  # noqa: S308 - segno's SVG of our own URI, no user markup
    }
    return render(request, "registration/twofactor_setup.html", context)


@never_cache
@sensitive_post_parameters("reauth_secret")
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest) -> HttpResponseBase:
    """ "Two-factor login": its state, new recovery codes, or a reset (both after confirming it's you)."""
    user = _user(request)
    enabled = twofactor.twofactor_enabled(user)
    reauth_form = None if reauth_recent(request) else ReauthForm(request)
    action = request.POST.get("action", "")
    if request.method == "POST" and enabled and action in ("codes", "reset"):
        reauth_form = reauth_confirm(request)
        if reauth_form is None and action == "codes":
            return _recovery_codes_page(request, twofactor.recovery_codes_new(user=user), reverse("twofactor_manage"))
        if reauth_form is None:
            twofactor.twofactor_reset(user=user, actor=user)
            messages.success(request, "Two-factor login was reset: your authenticator and recovery codes are gone.")
            return redirect("twofactor_setup" if settings.CERTPANEL_REQUIRE_2FA else "twofactor_manage")
    context = {
        "enabled": enabled,
        "device": twofactor.totp_device(user),
        "codes_left": twofactor.recovery_codes_left(user),
        "required": settings.CERTPANEL_REQUIRE_2FA,
        "reauth_form": reauth_form,
    }
    return render(request, "registration/twofactor_manage.html", context)


class PasswordChange(auth_views.PasswordChangeView):
    """Django's password change, with its audit row in the same transaction as the new password."""

    success_url = "/"

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(action=AuditAction.PASSWORD_CHANGE, actor=form.user, target=form.user)
        return response
