"""What a handshake proves: the served chain judged against the assigned certificate, the name and the clock,
as the ``ProbeResult`` the services page, the alerts and the deployment log show.

The facts come from ``repository.pki`` (fingerprint, name coverage, the served-chain check, days left); this module
only puts them together and words the error an admin reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from cryptography.hazmat.primitives import serialization

from repository.errors import CryptoError
from repository.pki import safe
from repository.pki.chain import verify_served_chain
from repository.pki.dates import days_left
from repository.pki.describe import fingerprint_sha256
from repository.pki.hostnames import covers_name
from services.probes.tls import Served


@dataclass(frozen=True)
class ProbeResult:
    """One probe of one name on one port; ``ok`` only when it serves the assigned certificate, soundly chained,
    for that name. Stored as the listener's report (services/verification.py) without ``served_chain_pem``."""

    host: str
    port: int
    protocol: str
    server_name: str
    ok: bool
    served_fingerprint_sha256: str = ""
    expected_fingerprint_sha256: str = ""
    matches_expected: bool | None = None
    hostname_ok: bool = False
    chain_ok: bool = False
    chain_problems: list[str] = field(default_factory=list)
    served_chain_pem: list[str] = field(default_factory=list)
    days_left: int | None = None
    not_after: datetime | None = None
    tls_version: str = ""
    cipher: str = ""
    plaintext_auth_before_tls: bool | None = None
    starttls_offered: bool | None = None
    error: str = ""
    elapsed_ms: float = 0.0


def judge(base: ProbeResult, served: Served, *, expected: str, now: datetime) -> ProbeResult:
    """``base`` with what follows from the served chain filled in, including the error text.

    ``expected`` is the assigned certificate's SHA-256 fingerprint in lowercase hex ("" when none is assigned).
    """
    base = replace(base, tls_version=served.tls_version, cipher=served.cipher)
    if not served.chain:
        return replace(base, error="the server sent no certificate")
    leaf = served.chain[0]
    served_fp = fingerprint_sha256(leaf)
    matches = served_fp == expected if expected else None
    served_pem = [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in served.chain]
    try:
        safe.check_certificate(leaf)
        hostname_ok = covers_name(leaf, base.server_name)
        problems = verify_served_chain(served.chain, now=now)
        not_after = safe.not_after(leaf)
    except CryptoError as exc:
        read = replace(base, served_fingerprint_sha256=served_fp, matches_expected=matches, served_chain_pem=served_pem)
        return _unreadable(read, exc, expected)
    failures: list[str] = []
    if matches is False:
        failures.append(_different(served_fp, expected))
    if not hostname_ok:
        failures.append(f"the certificate does not cover {base.server_name}")
    failures += problems
    return replace(
        base,
        ok=not failures,
        served_fingerprint_sha256=served_fp,
        matches_expected=matches,
        hostname_ok=hostname_ok,
        chain_ok=not problems,
        chain_problems=problems,
        served_chain_pem=served_pem,
        days_left=days_left(not_after, now=now),
        not_after=not_after,
        error="; ".join(failures),
    )


def _unreadable(base: ProbeResult, exc: CryptoError, expected: str) -> ProbeResult:
    """The served certificate has a part the panel cannot read (a GOST key, an x400Address name): say so."""
    reason = str(exc)
    failures = [f"the served certificate cannot be checked: {reason[:1].lower()}{reason[1:]}"]
    if base.matches_expected is False:
        failures.insert(0, _different(base.served_fingerprint_sha256, expected))
    return replace(base, error="; ".join(failures))


def _different(served_fp: str, expected: str) -> str:
    return f"serves a different certificate (sha256 {served_fp[:12]}…) than the one assigned ({expected[:12]}…)"
