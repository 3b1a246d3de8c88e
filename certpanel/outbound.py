"""Outbound HTTP(S) to addresses someone else chose: a certificate's AIA "CA Issuers" URL, an ACME directory and
every URL that directory hands out. Only public addresses are reached, unless an admin allow-lists more with
CERTPANEL_OUTBOUND_ALLOW (comma-separated CIDRs, addresses or host names; the tests' Pebble on 127.0.0.1 is one).

The check is made where a socket is about to connect, after DNS: the name is resolved once here, each address is
checked, and the socket connects to the address that was checked (TLS still verifies the name). So a name that
resolves to 127.0.0.1 (``localhost``, DNS rebinding) is refused like the literal address, before any packet leaves,
and every redirect hop is checked too, since each hop connects through here. The connected peer is checked again
once the socket is up. Proxies from the environment are not used: a proxy would connect where this cannot look.

Refused unless allow-listed: loopback, private (RFC 1918, ULA, CGNAT), link-local (169.254/16 with the cloud
metadata address, fe80::/10), unspecified, multicast, reserved, documentation ranges, and IPv6 forms that carry
such an IPv4 address (mapped, 6to4, Teredo). A host name in the list allows whatever it resolves to.

Errors name no host, address or port ("address not allowed", "timed out"): an admin's browser must not learn what
listens where inside the network. The details go to the log at DEBUG (CERTPANEL_LOG_LEVEL=DEBUG): at INFO they
would also reach a CLI command's stderr, which carries one error line.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from certpanel.errors import PanelError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REDIRECTS = 5
SETTING = "CERTPANEL_OUTBOUND_ALLOW"


class OutboundError(PanelError):
    """A fetch that was refused or did not finish. The message is generic: no host, address or port."""


class AddressNotAllowed(OutboundError):
    def __init__(self) -> None:
        super().__init__(f"address not allowed (an admin can allow it with {SETTING})")


# ---------------------------------------------------------------- which addresses


@dataclass(frozen=True)
class AllowList:
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@lru_cache(maxsize=8)
def _parse(entries: tuple[str, ...]) -> AllowList:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in (item.strip() for item in entries if item.strip()):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(_host_key(entry))
    return AllowList(tuple(networks), frozenset(hosts))


def allow_list(entries: Iterable[str] | None = None) -> AllowList:
    """The admin's allow-list; read from settings at each use (tests and operators change it)."""
    if entries is None:
        entries = getattr(settings, SETTING, [])
    return _parse(tuple(entries))


def _ip(address: str | IPAddress) -> IPAddress:
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_public(address: str | IPAddress) -> bool:
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public(embedded):
            return False
    special = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
    return ip.is_global and not (special or ip.is_reserved or ip.is_unspecified)


def address_allowed(address: str | IPAddress, *, allow: AllowList | None = None) -> bool:
    ip = _ip(address)
    allow = allow_list() if allow is None else allow
    return is_public(ip) or any(ip.version == net.version and ip in net for net in allow.networks)


def host_allowed_by_name(host: str, *, allow: AllowList | None = None) -> bool:
    return _host_key(host) in (allow_list() if allow is None else allow).hosts


# ---------------------------------------------------------------- URLs an admin types or a CA hands out


def http_link(url: str) -> str:
    """``url`` when a browser may follow it as a link (http or https with a host, nothing hidden), else ""."""
    text = str(url or "")
    if not text or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return ""
    scheme = text.split(":", 1)[0].lower()
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return ""
    return text if scheme in ("http", "https") and host else ""


def url_check(url: str) -> str:
    """The host of an http(s) URL, refused at once when it is a literal address that is not allowed.

    Names are checked when they are resolved, at connection time (they may resolve differently by then)."""
    if not http_link(url):
        raise OutboundError("only http:// and https:// URLs can be fetched")
    host = _host_key(urlsplit(url).hostname or "")
    try:
        literal = _ip(host)
    except ValueError:
        return host
    if not host_allowed_by_name(host) and not address_allowed(literal):
        log.debug("outbound URL refused: %s is not public and not in %s", literal, SETTING)
        raise AddressNotAllowed()
    return host


# ---------------------------------------------------------------- the socket


def connect(
    host: str,
    port: int,
    *,
    timeout: float | None,
    source_address: tuple[str, int] | None = None,
    socket_options: Iterable[tuple[int, int, int | bytes]] | None = None,
) -> socket.socket:
    """Resolve ``host`` once, keep the allowed addresses, connect to one of them and check the peer again."""
    allow = allow_list()
    by_name = host_allowed_by_name(host, allow=allow)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    permitted = [info for info in infos if by_name or address_allowed(str(info[4][0]), allow=allow)]
    if not permitted:
        found = ", ".join(sorted({str(info[4][0]) for info in infos}))
        log.debug("outbound connection to %s:%s refused: %s not public and not in %s", host, port, found, SETTING)
        raise AddressNotAllowed()
    error: OSError | None = None
    for family, kind, proto, _, address in permitted:
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
            peer = str(sock.getpeername()[0])
        except OSError as exc:
            sock.close()
            error = exc
            continue
        if not by_name and not address_allowed(peer, allow=allow):
            sock.close()
            log.debug("outbound connection to %s:%s refused after connect: peer %s", host, port, peer)
            raise AddressNotAllowed()
        return sock
    assert error is not None
    raise error


def _guarded_new_conn(conn: HTTPConnection) -> socket.socket:
    """urllib3's ``_new_conn`` with `connect` in place of its own create_connection; same exceptions."""
    timeout = conn.timeout if isinstance(conn.timeout, int | float) or conn.timeout is None else None
    if timeout is None and conn.timeout is not None:  # urllib3's "default" sentinel
        timeout = socket.getdefaulttimeout()
    try:
        return connect(
            conn._dns_host,
            conn.port or 443,
            timeout=timeout,
            source_address=conn.source_address,
            socket_options=conn.socket_options,
        )
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, "connection timed out") from exc
    except OSError as exc:
        raise NewConnectionError(conn, "failed to establish a new connection") from exc


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _guarded_new_conn(self)


class _HTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _guarded_new_conn(self)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


# ---------------------------------------------------------------- requests


class GuardedAdapter(HTTPAdapter):
    """requests' adapter whose every connection goes through `connect`, with no proxy, whose answers are read
    up to ``max_bytes`` and for at most ``read_seconds`` (a server trickling bytes cannot hold a worker)."""

    def __init__(self, *, max_bytes: int, read_seconds: float) -> None:
        self.max_bytes = max_bytes
        self.read_seconds = read_seconds
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise OutboundError("outbound fetches do not go through a proxy")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        response = super().send(request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies={})
        if not stream:
            _read_bounded(response, max_bytes=self.max_bytes, seconds=self.read_seconds)
        return response


def _read_bounded(response: requests.Response, *, max_bytes: int, seconds: float) -> None:
    """Read the body as requests would, but refuse more than ``max_bytes`` (decoded) or ``seconds``."""
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > max_bytes or time.monotonic() > deadline:
            response.close()
            log.debug("outbound answer from %s cut: %d bytes so far", response.url, size)
            raise OutboundError("the answer is too large" if size > max_bytes else "timed out")
        chunks.append(chunk)
    response._content = b"".join(chunks)


def guard(session: requests.Session, *, max_bytes: int, read_seconds: float) -> requests.Session:
    """Make every request of ``session`` (its redirects included) go through the checks above."""
    adapter = GuardedAdapter(max_bytes=max_bytes, read_seconds=read_seconds)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # no proxy, .netrc or CA bundle from the environment
    session.max_redirects = MAX_REDIRECTS
    return session


def reason(error: requests.RequestException) -> str:
    """A requests failure in a few generic words (the full error is for the log)."""
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS verification failed"
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "could not connect"
    if isinstance(error, requests.TooManyRedirects):
        return "too many redirects"
    return "the request failed"


def fetch(url: str, *, timeout: float, max_bytes: int, max_hops: int = 3) -> bytes:
    """GET a small document. Redirects are followed only on the same host, each one checked like the first."""
    with guard(requests.Session(), max_bytes=max_bytes, read_seconds=timeout) as session:
        for _ in range(max_hops + 1):
            host = url_check(url)
            try:
                response = session.get(url, timeout=timeout, allow_redirects=False)
            except requests.RequestException as exc:
                log.debug("outbound fetch of %s failed: %s", url, exc)
                raise OutboundError(reason(exc)) from None
            if not response.is_redirect:
                if response.status_code != 200:
                    raise OutboundError(f"the server answered HTTP {response.status_code}")
                return response.content
            target = urljoin(url, response.headers.get("Location", ""))
            if _host_key(urlsplit(target).hostname or "") != host:
                log.debug("outbound fetch of %s: redirect to another host refused: %s", url, target)
                raise OutboundError("it redirects to another host")
            url = target
    raise OutboundError("too many redirects")
