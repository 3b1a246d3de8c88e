"""The Users pages (/users/), admins only: the list with what each role may do, a new user, a user's page (role),
a new password, a two-factor reset, deactivate and reactivate (each on a page that says what will happen). Every
change needs a recent "confirm it's you": a stolen session must not be enough to make an admin or take one away."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from certpanel.access.reauth import ReauthForm, reauth_confirm, reauth_recent
from certpanel.accounts import actions, selectors
from certpanel.accounts.forms import PasswordForm, RoleForm, UserCreateForm
from certpanel.accounts.selectors import UserRow
from certpanel.roles import Role
from certpanel.web import acting_user, admin_required, form_data, post_only

SECRETS = ("password", "password_confirm", "reauth_secret")


def _row(user_id: int) -> UserRow:
    row = selectors.user_row(user_id)
    if row is None:
        raise Http404("No such user.")
    return row


def _reauth(request: HttpRequest) -> ReauthForm | None:
    """None: go ahead. A GET shows the field at once when the last confirmation is old, so one submit does it."""
    if request.method == "POST":
        return reauth_confirm(request)
    return None if reauth_recent(request) else ReauthForm(request)


def _refused(form: forms.Form, exc: actions.AccountError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


@require_GET
@admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    return render(request, "users/list.html", {"rows": selectors.user_rows(), "roles": list(Role)})


@never_cache
@sensitive_post_parameters(*SECRETS)
@require_http_methods(["GET", "POST"])
@admin_required
def user_add(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(*form_data(request))
    reauth_form = _reauth(request)
    if request.method == "POST" and form.is_valid() and reauth_form is None:
        data = form.cleaned_data
        try:
            user = actions.user_create(
                username=data["username"],
                email=data["email"],
                role=form.role_chosen(),
                password=data["password"],
                by=acting_user(request),
            )
        except actions.AccountError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"Added {user.get_username()}: they set up two-factor login at the first login.")
            return redirect("users:list")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "reauth_form": reauth_form, "roles": list(Role)}
    return render(request, "users/add.html", context, status=status)


@never_cache
@sensitive_post_parameters(*SECRETS)
@require_http_methods(["GET", "POST"])
@admin_required
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    """The user's page; its form changes the role."""
    row = _row(user_id)
    form = RoleForm(*form_data(request), initial={"role": row.role.value})
    reauth_form = _reauth(request)
    if request.method == "POST" and form.is_valid() and reauth_form is None:
        try:
            user = actions.user_set_role(user_id=user_id, role=form.role_chosen(), by=acting_user(request))
        except actions.AccountError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"{user.get_username()} is now {form.role_chosen().label.lower()}.")
            return redirect("users:detail", user_id)
    context: dict[str, Any] = {"row": row, "form": form, "reauth_form": reauth_form, "roles": list(Role)}
    return render(request, "users/detail.html", context, status=400 if request.method == "POST" else 200)


@never_cache
@sensitive_post_parameters(*SECRETS)
@require_http_methods(["GET", "POST"])
@admin_required
def user_password(request: HttpRequest, user_id: int) -> HttpResponse:
    row = _row(user_id)
    if row.user.pk == request.user.pk:
        messages.info(request, "Your own password is changed under Password, with your current one.")
        return redirect("password_change")
    form = PasswordForm(*form_data(request), user=row.user)
    reauth_form = _reauth(request)
    if request.method == "POST" and form.is_valid() and reauth_form is None:
        try:
            actions.user_password_reset(
                user_id=user_id, password=form.cleaned_data["password"], by=acting_user(request)
            )
        except actions.AccountError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"New password set for {row.user.get_username()}: their sessions have ended.")
            return redirect("users:detail", user_id)
    context = {"row": row, "form": form, "reauth_form": reauth_form}
    return render(request, "users/password.html", context, status=400 if request.method == "POST" else 200)


@never_cache
@sensitive_post_parameters(*SECRETS)
@require_http_methods(["GET", "POST"])
@admin_required
def user_active(request: HttpRequest, user_id: int, active: bool) -> HttpResponse:
    """Deactivate (``active=False``) or reactivate: the GET is the confirmation page, its POST the change."""
    row = _row(user_id)
    if row.user.is_active == active and request.method == "GET":
        return redirect("users:detail", user_id)  # already done (a reload, a second tab)
    form = forms.Form(*form_data(request))
    reauth_form = _reauth(request)
    if request.method == "POST" and reauth_form is None:
        change = actions.user_activate if active else actions.user_deactivate
        try:
            user = change(user_id=user_id, by=acting_user(request))
        except actions.AccountError as exc:
            _refused(form, exc)
        else:
            done = "reactivated: they can log in again" if active else "deactivated: their sessions have ended"
            messages.success(request, f"{user.get_username()} {done}.")
            return redirect("users:detail", user_id)
    context = {"row": row, "form": form, "reauth_form": reauth_form, "active": active}
    return render(request, "users/active.html", context, status=400 if request.method == "POST" else 200)


@never_cache
@sensitive_post_parameters(*SECRETS)
@admin_required
@post_only("users:detail")
def user_twofactor_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    """The user's page's "Reset two-factor login" (asked in the browser first); when the last "confirm it's you" is
    old, a page asks for it and posts again."""
    row = _row(user_id)
    reauth_form = reauth_confirm(request)
    if reauth_form is not None:
        context = {"row": row, "reauth_form": reauth_form}
        return render(request, "users/twofactor_reset.html", context, status=400 if reauth_form.is_bound else 200)
    try:
        user = actions.user_twofactor_reset(user_id=user_id, by=acting_user(request))
    except actions.AccountError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Two-factor login of {user.get_username()} was reset: their sessions have ended, and they set up a new "
            "authenticator at their next login.",
        )
    return redirect("users:detail", user_id)
