"""First start: an admin account and the panel's own self-signed certificate."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model

from repository.actions import certificate_ensure_default
from repository.models import Certificate
from services.actions import listeners_ensure_defaults


def admin_ensure() -> str | None:
    """Create the first admin; return the generated password (shown once), or None if one exists."""
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = settings.CERTPANEL_ADMIN_PASSWORD or secrets.token_urlsafe(15)
    User.objects.create_superuser(username=settings.CERTPANEL_ADMIN_USER, email="", password=password)
    return "" if settings.CERTPANEL_ADMIN_PASSWORD else password


def default_certificate_ensure() -> Certificate | None:
    """The panel's own certificate, and the twelve secure listeners on it (only on a fresh install)."""
    entry = certificate_ensure_default(hostname=settings.CERTPANEL_HOSTNAME)
    if entry is not None:
        listeners_ensure_defaults(entry)
    return entry
