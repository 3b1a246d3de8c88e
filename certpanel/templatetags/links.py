"""``{{ url|http_link }}``: a URL from outside (a CA's Terms of Service) as an href only when it is http(s).

Anything else (``javascript:``, ``data:``) gives "", and the template shows the text instead of a link."""

from __future__ import annotations

from django import template

from certpanel.outbound import http_link as _http_link

register = template.Library()


@register.filter
def http_link(url: object) -> str:
    return _http_link(str(url or ""))
