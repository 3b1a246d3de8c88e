"""What the services pages say in one phrase (pure: no Django): why a listener is not OK, how urgent a
certificate's expiry is, whether a certificate may be put on a name, and how a deployment ended.

A refused connection makes every other check fail with it (no certificate, so no name and no chain): the admin
is told the one cause, never three red cells for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from repository.pki.hostnames import name_matches

EXPIRING_DAYS = 30  # a certificate with this many days left or fewer shows amber on the services page


def days_badge(days: int | None) -> str:
    """The badge class of a certificate with ``days`` left: expired (red), expiring (amber), valid, or ""."""
    if days is None:
        return ""
    if days < 0:
        return "expired"
    return "expiring" if days <= EXPIRING_DAYS else "valid"


def days_text(days: int | None) -> str:
    """``days`` as repository.pki.dates.days_left counts them (floor: -1 within the first day after expiry)."""
    if days is None:
        return ""
    if days < 0:
        since = -days - 1
        return "expired today" if since == 0 else f"expired {since} day{'s' * (since != 1)} ago"
    return f"{days} day{'s' * (days != 1)} left"


def one_reason(
    report: Sequence[Mapping[str, Any]], *, certificate_days: int | None = None, failed_deployment: str = ""
) -> str:
    """The one reason a listener is not OK ("" when it is), in the order an admin fixes things:

    1. a name the port did not answer with a certificate for (refused, timed out, no STARTTLS, handshake
       failed): that alone, since nothing else could be checked;
    2. the assigned certificate has expired;
    3. its newest deployment did not succeed (then the port still serves the previous certificate: that is the
       symptom, this the cause);
    4. the port serves another certificate than the assigned one;
    5. the served certificate does not cover the name asked for;
    6. the served chain is incomplete or invalid;
    7. whatever else the probe reported.

    ``report`` is a listener's stored ``last_report`` (services/verification.py, [] when never verified);
    ``certificate_days`` the days left of the assigned certificate; ``failed_deployment`` how the newest
    deployment ended when it did not succeed ("Rolled back: …").
    """
    for entry in report:
        if not entry.get("served_fingerprint_sha256"):
            return f"unreachable: {_where(entry)} — {entry.get('error') or 'no certificate was served'}"
    if certificate_days is not None and certificate_days < 0:
        return f"the certificate {days_text(certificate_days)}"
    if failed_deployment:
        return f"last deployment {failed_deployment[:1].lower()}{failed_deployment[1:]}"
    for entry in report:
        if entry.get("matches_expected") is False:
            return f"{_where(entry)} serves a different certificate than the one assigned (not deployed yet?)"
    for entry in report:
        if not entry.get("hostname_ok"):
            return f"the served certificate does not cover {entry.get('server_name')}"
    for entry in report:
        if not entry.get("chain_ok"):
            problems = entry.get("chain_problems") or ["the chain does not verify"]
            return f"chain: {problems[0]}"
    for entry in report:
        if not entry.get("ok") and entry.get("error"):
            return str(entry["error"])
    return ""


def _where(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('server_name') or entry.get('host')} on port {entry.get('port')}"


# -- may this certificate go on this name? ---------------------------------------------------------------
@dataclass(frozen=True)
class Fitness:
    """``refused``: why it cannot be chosen at all (""); ``warnings``: what needs an explicit confirmation."""

    refused: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def selectable(self) -> bool:
        return not self.refused


def fitness(
    *,
    sans: Sequence[str],
    common_name: str,
    not_before: datetime | None,
    not_after: datetime | None,
    names: Sequence[str],
    now: datetime,
) -> Fitness:
    """Expired: refused. Not yet valid, or a name in ``names`` it does not cover: a warning each."""
    if not_after is not None and not_after < now:
        return Fitness(refused=f"expired on {not_after:%Y-%m-%d}: clients would refuse it")
    warnings = []
    if not_before is not None and not_before > now:
        warnings.append(f"not valid before {not_before:%Y-%m-%d %H:%M} UTC: clients refuse it until then")
    patterns = list(sans) or [common_name]  # the CN counts only without SANs, as clients decide (RFC 6125)
    for name in names:
        if name and not any(pattern and name_matches(pattern, name) for pattern in patterns):
            warnings.append(f"does not cover {name}: clients asking for it would see a name mismatch")
    return Fitness(warnings=warnings)


# -- how a deployment ended, first ----------------------------------------------------------------------
_FAILED_COMMAND = re.compile(r"^\d\d:\d\d:\d\d (.+?) (?:failed \(exit \d+\)|timed out after .*|could not start .*)$")
_TELLING = re.compile(r"(?i)\b(error|fatal|failed|invalid|cannot|can't|no such|not found|denied|unknown)\b")
_STAMPED = re.compile(r"^\d\d:\d\d:\d\d ")


def failed_output(log: str) -> str:
    """The line of a failed command's output that says why (the daemon's own words), or "".

    A dump such as `doveconf -n` prints its whole configuration and the error last: the last telling line of
    the output just before "<what> failed (exit N)" is the cause.
    """
    lines = log.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _FAILED_COMMAND.match(lines[index])
        if match is None:
            continue
        what = match.group(1)
        output: list[str] = []
        for line in reversed(lines[:index]):
            if _STAMPED.match(line):  # the output's first line carries the stamp; or the command itself did
                first = _STAMPED.sub("", line)
                if not first.startswith(f"{what}:"):
                    output.append(first)
                break
            output.append(line)
        output = [line.strip() for line in reversed(output) if line.strip()]
        telling = [line for line in output if _TELLING.search(line)]
        return (telling[-1] if telling else output[-1] if output else "")[:300]
    return ""


def deployment_outcome(*, status: str, label: str, error: str, log: str) -> str:
    """One sentence: how the deployment ended and why, the cause in the daemon's words when a command failed."""
    if status == "succeeded":
        return "The port serves the assigned certificate."
    if status not in ("rolled_back", "failed"):
        return f"In progress ({label.lower()}): the page follows it."
    cause = failed_output(log)
    reason = error.rstrip(". ") or "no reason was recorded"
    if cause and cause not in reason:
        reason = f"{reason} — {cause}"
    return f"{label}: {reason}."
