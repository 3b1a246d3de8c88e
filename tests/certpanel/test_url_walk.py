"""Every URL pattern, requested by a visitor who is not logged in, reaches nothing but the login page, the health
check, static files and ACME challenges.

The patterns come from Django's resolver, so a view added later is walked without anyone listing it here: each is
given a sample path (converters and regex groups filled in), checked to resolve back to that very pattern, then
requested with GET and POST. A pattern is *public* when an answer is neither a redirect to a login page nor a 404;
the public ones must be exactly the expected few.
"""

from __future__ import annotations

import re
import re._parser as sre_parse  # the stdlib's own regex parser: a sample string for a regex pattern
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

SAMPLES = {
    "int": "1",
    "str": "sample",
    "slug": "sample",
    "path": "sample",
    "uuid": "12345678-1234-5678-1234-567812345678",
}
# name -> why it may answer a visitor who is not logged in
PUBLIC = {
    "health": "load balancers and monitoring",
    "login": "the login page",
    "admin:login": "the admin's login page (same users, same lockout)",
    "acme_challenge": "HTTP-01 answers for the CA",
}


def _walk(
    patterns: list[Any], chain: tuple[Any, ...] = (), namespace: str = ""
) -> Iterator[tuple[tuple[Any, ...], URLPattern, str]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, (*chain, entry.pattern), inner)
        else:
            yield (*chain, entry.pattern), entry, f"{namespace}{entry.name}" if entry.name else ""


def _regex_sample(parsed: Any) -> str:
    out = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "SUBPATTERN":
            out.append(_regex_sample(arg[-1]))
        elif name == "BRANCH":
            out.append(_regex_sample(arg[1][0]))
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            out.append(_regex_sample(arg[2]) * max(arg[0], 1))
        elif name == "ANY" or (name == "IN" and str(arg[0][0]) == "NEGATE"):
            out.append("s")
        elif name == "IN":
            out.append(_regex_sample([arg[0]]) if str(arg[0][0]) == "LITERAL" else "s")
        elif name != "AT":
            raise AssertionError(f"no sample for regex element {name}")
    return "".join(out)


def _sample(pattern: Any) -> str:
    if isinstance(pattern, RoutePattern):
        return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], str(pattern))
    assert isinstance(pattern, RegexPattern), pattern
    return _regex_sample(sre_parse.parse(pattern.regex.pattern))


def _patterns() -> list[tuple[str, str, URLPattern]]:
    found = []
    for chain, pattern, name in _walk(get_resolver().url_patterns):
        path = "/" + "".join(_sample(part) for part in chain)
        assert resolve(path).func is pattern.callback, f"sample {path} does not resolve to {name or chain}"
        found.append((path, name or f"unnamed {path}", pattern))
    return found


def _outcome(response: Any, login_pages: set[str]) -> str:
    if response.status_code in (301, 302) and urlsplit(response["Location"]).path in login_pages:
        return "login"
    return "nothing" if response.status_code == 404 else f"answered {response.status_code}"


@pytest.mark.django_db
def test_every_url_pattern_sends_an_anonymous_visitor_to_login(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    login_pages = {reverse("login"), reverse("admin:login")}
    walked = _patterns()
    public: dict[str, list[str]] = {}
    for path, name, _pattern in walked:
        for method in ("get", "post"):
            outcome = _outcome(getattr(client, method)(path), login_pages)
            if outcome not in ("login", "nothing"):
                public.setdefault(name, []).append(f"{method.upper()} {path}: {outcome}")
    assert set(public) == set(PUBLIC), public
    assert client.get("/static/css/panel.css").status_code == 200  # static files, served before any view
    with capsys.disabled():
        print(f"\nURL walk: {len(walked)} patterns walked, {len(public)} public ({', '.join(sorted(public))})")
    assert len(walked) >= 70


@pytest.mark.django_db
def test_the_public_patterns_do_only_what_they_are_for(client: Client) -> None:
    assert client.get("/health/").json()["database"] == "ok"
    assert 'name="password"' in client.get("/login/").content.decode()
    assert 'name="password"' in client.get("/admin/login/").content.decode()
    assert client.get("/.well-known/acme-challenge/sample").status_code == 404  # unknown token: nothing
    # A POST to health or a challenge changes nothing: they answer GET only.
    assert client.post("/health/").status_code in (200, 405)
    assert client.post("/.well-known/acme-challenge/sample").status_code == 405


def test_every_view_django_would_let_through_without_login_is_listed() -> None:
    # LoginRequiredMiddleware lets a view through when it is marked login_not_required; the walk above proves what
    # each answers, this says the marks themselves hold no surprise.
    unmarked = {
        name for _path, name, pattern in _patterns() if getattr(pattern.callback, "login_required", True) is False
    }
    assert unmarked <= set(PUBLIC), unmarked - set(PUBLIC)
