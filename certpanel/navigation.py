"""The main navigation: one table of sections and who sees each. A page belongs to the section whose URL its
path starts with (every section owns a URL prefix). A section whose URL name is not installed is left out, so a
page and its menu entry arrive together."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from certpanel.roles import may_administer


@dataclass(frozen=True)
class Section:
    label: str
    url_name: str
    admins_only: bool = False


SECTIONS = (
    Section("Dashboard", "dashboard"),
    Section("Repository", "repository:list"),
    Section("Services", "services:list"),
    Section("Jobs", "jobs"),
    Section("Audit log", "audit"),
    Section("Toolbox", "toolbox"),
    Section("Settings", "settings"),
    Section("Users", "users:list", admins_only=True),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


def _belongs(path: str, url: str) -> bool:
    return path == url if url == "/" else path.startswith(url)


def nav_items(request: HttpRequest) -> list[NavItem]:
    """The sections this user sees, the one the page belongs to marked current."""
    items = []
    for section in SECTIONS:
        if section.admins_only and not may_administer(request.user):
            continue
        try:
            url = reverse(section.url_name)
        except NoReverseMatch:
            continue
        items.append(NavItem(section.label, url, _belongs(request.path, url)))
    return items
