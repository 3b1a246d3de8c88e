"""Who is on the other end of a request, for the login lockout: the connecting address, unless that is a proxy
the admin trusts (CERTPANEL_TRUSTED_PROXIES).

X-Forwarded-For is a list each proxy appends the address it was connected from to; anything to the left of what a
trusted proxy appended is whatever the client chose to write. So the list is read from the right, past the trusted
proxies, and the first address that is not one of them is the client. Without a trusted proxy in front, the header
is ignored: a client could otherwise pick a new address for every password it tries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest

from certpanel.env import IPNetwork

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(remote_addr: str, forwarded_for: str, trusted: Sequence[IPNetwork]) -> str:
    """The client's address; an address that is not valid is never returned when a valid one is known."""

    def is_trusted(address: Address) -> bool:
        return any(address in network for network in trusted)

    client = _address(remote_addr)
    if client is None:
        return remote_addr
    for hop in reversed(forwarded_for.split(",") if forwarded_for else []):
        if not is_trusted(client):
            break
        address = _address(hop)
        if address is None:
            break  # garbage appended by a trusted proxy: that proxy is the last address known
        client = address
    return str(client)


def request_client_address(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: the address a lockout is keyed on, with the user name."""
    return client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.CERTPANEL_TRUSTED_PROXIES,
    )
