"""Every POST-only URL (certpanel.web.post_only), opened with GET or HEAD: the page its form lives on for those who
may post it, 403 for those who may not, 405 for other methods.

The URLs come from Django's resolver (every view wrapped by ``post_only`` is marked), so one added later without an
expectation here fails the first test instead of being skipped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from certpanel.roles import Role

NEW = "/certificates/letsencrypt/new/"
# URL -> (the page a GET goes back to, the least role that may post it)
EXPECTED = {
    "/jobs/order/1/retry/": ("/jobs/", Role.OPERATOR),
    "/certificates/export/": ("/certificates/", Role.READ_ONLY),
    "/certificates/1/complete/": ("/certificates/1/", Role.OPERATOR),
    "/certificates/1/export/": ("/certificates/1/", Role.READ_ONLY),
    "/certificates/1/renew/": ("/certificates/1/", Role.OPERATOR),
    "/certificates/1/reuse-key/": ("/certificates/1/", Role.OPERATOR),
    "/certificates/orders/1/retry/": ("/certificates/orders/1/", Role.OPERATOR),
    "/certificates/acme-registrations/1/agree/": ("/settings/#acme-accounts", Role.ADMIN),
    f"/certificates/acme-registrations/1/agree/?next={NEW}": (NEW, Role.ADMIN),
    "/settings/acme-account/": ("/settings/#acme-accounts", Role.ADMIN),
    f"/settings/acme-account/?next={NEW}": (NEW, Role.ADMIN),
    "/services/verify/": ("/services/", Role.OPERATOR),
    "/services/1/sni/remove/": ("/services/1/", Role.OPERATOR),
    "/services/1/deploy/": ("/services/1/", Role.OPERATOR),
    "/services/1/verify/": ("/services/1/", Role.OPERATOR),
    "/users/1/two-factor/reset/": ("/users/1/", Role.ADMIN),
    "/settings/notifications/": ("/settings/", Role.ADMIN),
    "/settings/schedule/": ("/settings/", Role.ADMIN),
    "/settings/test-email/": ("/settings/", Role.ADMIN),
    "/settings/dns-providers/add/": ("/settings/dns-providers/", Role.ADMIN),
    "/settings/dns-providers/1/test/": ("/settings/dns-providers/", Role.ADMIN),
    "/settings/dns-providers/1/delete/": ("/settings/dns-providers/", Role.ADMIN),
}
RANK = {Role.READ_ONLY: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def _marked(patterns: list[object], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _marked(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and getattr(entry.callback, "post_only_back", None) is not None:
            yield (prefix + str(entry.pattern)).replace("<int:", "<").replace("<str:", "<")


def _route(url: str) -> str:
    """/services/1/deploy/ -> the route as the resolver spells it, with every parameter as <name>."""
    match = get_resolver().resolve(url.split("?")[0])
    parts = url.split("?")[0]
    for name, value in match.kwargs.items():
        parts = parts.replace(f"/{value}/", f"/<{name}>/", 1)
    return parts.lstrip("/")


def _client(role: Role) -> Client:
    flags = {Role.ADMIN: (True, True), Role.OPERATOR: (True, False), Role.READ_ONLY: (False, False)}[role]
    user = User.objects.create_user(f"u-{role.value}", is_staff=flags[0], is_superuser=flags[1])
    client = Client()
    client.force_login(user)
    return client


def test_every_post_only_url_has_an_expectation() -> None:
    assert set(_marked(get_resolver().url_patterns)) == {_route(url) for url in EXPECTED}


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
@pytest.mark.parametrize("url", list(EXPECTED))
def test_get_of_a_post_only_url_goes_back_to_its_page_or_is_refused(url: str, role: Role) -> None:
    back, least = EXPECTED[url]
    client = _client(role)
    for method in (client.get, client.head):
        response = method(url)
        if RANK[role] >= RANK[least]:
            assert (response.status_code, response["Location"]) == (302, back)
        else:
            assert response.status_code == 403, "a read-only GET is refused, not sent on as if it might work"
    if RANK[role] >= RANK[least]:
        assert client.put(url).status_code == 405 and client.delete(url).status_code == 405


@pytest.mark.django_db
def test_a_next_from_elsewhere_is_not_followed() -> None:
    response = _client(Role.ADMIN).get("/settings/acme-account/?next=https://evil.example/")
    assert response["Location"] == "/settings/#acme-accounts"
