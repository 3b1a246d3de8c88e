"""Django's admin (/admin/) for the panel's admins only.

Django lets in every ``is_staff`` user, which here is an operator too (certpanel/roles.py): they would find an
admin index with nothing they may change. The admin is for the admin role; anyone else logged in is sent to the
dashboard with a sentence saying so, and a visitor who is not logged in gets the admin's login page as before.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from certpanel.roles import may_administer

NOT_FOR_YOU = "Django's admin is for admins only: everything your role may do is in the panel's own pages."


class PanelAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and may_administer(request.user))

    @method_decorator(never_cache)
    @login_not_required  # as Django's own: the admin's login page is public (tests/certpanel/test_url_walk.py)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Where the admin sends whoever it refuses: a logged-in non-admin goes to the dashboard instead."""
        if request.user.is_authenticated and not self.has_permission(request):
            messages.info(request, NOT_FOR_YOU)
            return redirect("dashboard")
        return super().login(request, extra_context)
