"""Probing a port: ``probe`` for one, ``probe_many`` for every port at once (threads, each with its own deadline).

Network, TLS and protocol problems never raise: they come back as a ``ProbeResult`` with ``ok=False`` and an
``error`` for the admin. Only a programming error (an unknown protocol, a timeout that is not positive) raises.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

from repository.pki.dates import as_utc
from services.probes.report import ProbeResult, judge
from services.probes.starttls import Deadline, Facts, ProbeFailure
from services.probes.tls import session
from services.protocols import BY_CODE, Protocol


@dataclass(frozen=True)
class ProbeTarget:
    """One name on one port, and the fingerprint of the certificate assigned to it ("" when none is)."""

    host: str
    port: int
    protocol: str
    server_name: str
    expected_fingerprint: str = ""


def _normalize_fingerprint(value: str) -> str:
    # Accept what admins paste: "SHA256:AB:CD:..." or spaced hex.
    text = value.strip().lower().removeprefix("sha256").lstrip(":= ")
    return "".join(ch for ch in text if ch not in ": ")


def _protocol(code: str) -> Protocol:
    try:
        return BY_CODE[code]
    except KeyError:
        raise ValueError(f"unknown protocol {code!r}; expected one of {', '.join(BY_CODE)}") from None


def probe(
    *,
    host: str,
    port: int,
    protocol: str,
    server_name: str,
    expected_fingerprint: str = "",
    timeout: float = 5.0,
    now: datetime | None = None,
) -> ProbeResult:
    """Connect, start TLS the protocol's way and report what is served. Raises only for bad arguments.

    An empty ``server_name`` falls back to ``host`` (that is the name a client would check).
    """
    known = _protocol(protocol)
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    started = time.monotonic()
    name = server_name or host
    expected = _normalize_fingerprint(expected_fingerprint)
    base = ProbeResult(host=host, port=port, protocol=protocol, server_name=name, ok=False)
    base = replace(base, expected_fingerprint_sha256=expected)
    facts = Facts()
    try:
        served = session(
            host=host, port=port, dialogue=known.starttls, server_name=name, deadline=Deadline(timeout), facts=facts
        )
    except ProbeFailure as exc:
        result = replace(base, error=str(exc))
    else:
        result = judge(base, served, expected=expected, now=as_utc(now))
    return replace(
        result,
        plaintext_auth_before_tls=facts.plaintext_auth_before_tls,
        starttls_offered=facts.starttls_offered,
        elapsed_ms=(time.monotonic() - started) * 1000,
    )


def probe_many(targets: Sequence[ProbeTarget], *, timeout: float = 5.0, max_workers: int = 16) -> list[ProbeResult]:
    """Probe every target concurrently (threads, each with its own timeout); results in input order."""
    for target in targets:
        _protocol(target.protocol)  # fail fast on a programming error, before any connection is made
    if not targets:
        return []

    def one(target: ProbeTarget) -> ProbeResult:
        return probe(
            host=target.host,
            port=target.port,
            protocol=target.protocol,
            server_name=target.server_name,
            expected_fingerprint=target.expected_fingerprint,
            timeout=timeout,
        )

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(targets))), thread_name_prefix="probe") as pool:
        return list(pool.map(one, targets))
