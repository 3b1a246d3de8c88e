"""View helpers every app shares: who may change things, and binding forms to a request."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

View = Callable[..., HttpResponseBase]


def staff_required(view: View) -> View:
    """Everyone logged in may look; only staff may change anything or take keys out."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_staff:
            raise PermissionDenied("Only staff users may change the repository.")
        return view(request, *args, **kwargs)

    return wrapper


def form_data(request: HttpRequest) -> tuple[Any, ...]:
    """Form data for a POST, even an empty one (an empty POST must show "required" errors)."""
    return (request.POST, request.FILES) if request.method == "POST" else ()
