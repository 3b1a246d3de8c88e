"""What every request meets before a view: headers, a body-size gate, the Host gate and the session clock.

In settings.MIDDLEWARE order:
- ``SecurityHeadersMiddleware`` (outermost, so its headers are on every response, error pages included): a
  Content-Security-Policy that lets pages load only the panel's own scripts, styles and images (no inline code,
  no other origin), and ``Cache-Control: no-store`` on every response to a logged-in user (key exports included).
- ``BodyLimitMiddleware``: a body larger than CERTPANEL_MAX_REQUEST_BYTES is refused with 413 from its
  Content-Length, before anything reads it: the CSRF check reads a POST body, and a multipart one is spooled to
  /tmp, even for a visitor who is then sent to the login page. (Django reads no body without a Content-Length.)
- ``HostGateMiddleware``: ACME HTTP-01 challenges are answered for any Host (the CA asks with the name being
  validated, which may be any certificate's name); every other request must name a host in ALLOWED_HOSTS, static
  files included (400 otherwise).
- ``SessionTimeoutMiddleware`` (after authentication): a session ends after CERTPANEL_SESSION_IDLE_MINUTES without
  a request, and CERTPANEL_SESSION_MAX_HOURS after the login whatever happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.cache import add_never_cache_headers

Handler = Callable[[HttpRequest], HttpResponseBase]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
LOGIN_AT = "certpanel_login_at"  # session keys: seconds since the epoch
SEEN_AT = "certpanel_seen_at"
SEEN_RESOLUTION = 60  # seconds: the last request is stored at most this often (not one session write per request)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        user = getattr(request, "user", None)  # absent for static files and requests refused before authentication
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


def size_label(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


class BodyLimitMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body then
        limit = settings.CERTPANEL_MAX_REQUEST_BYTES
        if length <= limit:
            return self.get_response(request)
        context = {"request_limit": size_label(limit), "upload_limit": size_label(settings.CERTPANEL_MAX_UPLOAD_BYTES)}
        # The server closes the connection rather than read the rest (gunicorn's sync workers after every response,
        # Django's own server when a body was left unread).
        return render(request, "413.html", context, status=413)


class HostGateMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith(ACME_CHALLENGE_PREFIX):
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            if match is not None and match.url_name == "acme_challenge":
                response: HttpResponseBase = match.func(request, *match.args, **match.kwargs)
                return response
        request.get_host()  # DisallowedHost: a 400 before any other middleware (WhiteNoise serves static files)
        return self.get_response(request)


def session_end_reason(*, now: float, login_at: float, seen_at: float, idle_minutes: int, max_hours: int) -> str:
    """Why a session is over ('' while it is not): too long without a request, or too long since the login."""
    if now - login_at >= max_hours * 3600:
        return f"Your session ended {max_hours} hours after you logged in. Log in again."
    if now - seen_at >= idle_minutes * 60:
        return f"Your session ended after {idle_minutes} minutes without activity. Log in again."
    return ""


def session_clock_start(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
    """user_logged_in receiver: every login starts both clocks, a second login on the same session included."""
    now = time.time()
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        session, now = request.session, time.time()
        # A session from before this middleware existed starts its clocks now.
        login_at, seen_at = session.setdefault(LOGIN_AT, now), session.get(SEEN_AT, now)
        reason = session_end_reason(
            now=now,
            login_at=login_at,
            seen_at=seen_at,
            idle_minutes=settings.CERTPANEL_SESSION_IDLE_MINUTES,
            max_hours=settings.CERTPANEL_SESSION_MAX_HOURS,
        )
        if reason:
            logout(request)  # the session is flushed and the user anonymous: login is required from here on
            messages.info(request, reason)
        elif SEEN_AT not in session or now - seen_at >= SEEN_RESOLUTION:
            session[SEEN_AT] = now
