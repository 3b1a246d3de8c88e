"""View helpers every app shares: who may change things (certpanel/roles.py), and binding forms to a request."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails

from certpanel.roles import may_administer, may_change

View = Callable[..., HttpResponseBase]


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it, for views that answer htmx with a partial."""

    htmx: HtmxDetails


def staff_required(view: View) -> View:
    """Everyone logged in may look; only operators and admins may change certificates and services or take keys
    out."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not may_change(request.user):
            raise PermissionDenied("Your account is read-only: it may look at everything but change nothing.")
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: View) -> View:
    """Users and settings: admins only (operators change certificates and services, read-only users nothing)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not may_administer(request.user):
            raise PermissionDenied("Only admins may manage users and change settings.")
        return view(request, *args, **kwargs)

    return wrapper


# Where a POST-only URL sends a GET: a URL name (reversed with the URL's own keyword arguments) or a function of the
# request and those arguments, for a page known only at request time (a form's `next`).
Back = str | Callable[..., str]


def post_only(back: Back) -> Callable[[View], View]:
    """A URL that only acts on POST. A GET or HEAD (a refresh after the redirect failed, a bookmark, a pasted link)
    goes back to the page the form lives on instead of a bare 405; other methods get the 405.

    Put it below the role check (``@staff_required`` / ``@admin_required``): a read-only user's GET of a change URL
    is still refused with 403, not sent on as if it might have worked."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method in ("GET", "HEAD"):
                return redirect(reverse(back, kwargs=kwargs) if isinstance(back, str) else back(request, **kwargs))
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return view(request, *args, **kwargs)

        wrapper.post_only_back = back  # type: ignore[attr-defined]  # the URL walk of the tests finds them by it
        return wrapper

    return decorate


def form_data(request: HttpRequest) -> tuple[QueryDict | None, MultiValueDict[str, UploadedFile] | None]:
    """Form data for a POST, even an empty one (an empty POST must show "required" errors); None leaves a form
    unbound. A fixed length lets the type checker see which form arguments it fills."""
    return (request.POST, request.FILES) if request.method == "POST" else (None, None)


def acting_user(request: HttpRequest) -> User | None:
    """The logged-in user behind a request, for the actions that record who acted; None when anonymous."""
    return request.user if isinstance(request.user, User) else None


def safe_next(request: HttpRequest) -> str:
    """The page a form should return to (`next` in the POST or query), or "" when absent or not this panel's: a
    link from elsewhere must not turn the panel into a redirector."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""
