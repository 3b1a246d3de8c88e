"""Every request states where it comes from, for the audit rows its actions write (certpanel/audit/origin.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from certpanel.access.client_address import request_client_address
from certpanel.audit.origin import acting_as


class AuditOriginMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with acting_as("anonymous", ip=request_client_address(request) or None):
            return self.get_response(request)
