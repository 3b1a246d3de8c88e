"""DNS-01 (RFC 8555 §8.4) for an order's pending authorizations: the TXT record of each, published through the DNS
provider that holds its ``_acme-challenge`` name (repository/dns/), then waited for on every authoritative nameserver
before the CA is told to look.

orders.py calls ``dns01_publish`` from ``_validate`` for an order whose challenge type is DNS-01, and
``dns01_cleanup`` when the order ends (issued or failed). Every record is a DnsChallengeRecord row tied to the order,
written before the update is sent, so what a dead worker left is removed by the worker resuming the order (which
publishes again: adding a TXT value twice changes nothing) or by the renewal sweep once the order has ended.

The wait is bounded by CERTPANEL_DNS_PROPAGATION_SECONDS for the whole order; the lease is renewed between asks, and
each change in what the nameservers serve becomes one line on the order page ("example.com: 1 of 2 nameservers
serve the record"). DNS errors become AcmeErrors: a server that does not answer is transient (the task retries), a
refusal (a wrong TSIG key, a zone the server no longer serves) or a nameserver that never serves the record fails
the order in plain words.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from django.conf import settings

from repository.acme.client import AcmeSession, Authorization, Challenge
from repository.acme.problems import AcmeError, challenge_not_offered
from repository.dns.propagation import Nameserver, wait_for_txt, zone_nameservers
from repository.dns.providers import dns_provider_connection
from repository.dns.records import dns_record_publish, dns_records_cleanup
from repository.dns.targets import ChallengeTarget, dns_challenge_target
from repository.errors import DnsError, DnsUnavailable
from repository.models import AcmeOrder, ChallengeType, DnsChallengeRecord

log = logging.getLogger(__name__)

Note = Callable[[str], None]  # one line for the order page


@dataclass(frozen=True)
class Published:
    authz: Authorization
    challenge: Challenge
    record: DnsChallengeRecord

    @property
    def name(self) -> str:
        return shown_name(self.authz)


def shown_name(authz: Authorization) -> str:
    """The name as the admin asked for it: a wildcard's authorization carries the name without "*."."""
    return f"*.{authz.identifier}" if authz.wildcard else authz.identifier


def dns01_txt_value(key_authorization: str) -> str:
    """RFC 8555 §8.4: base64url(SHA-256(key authorization)), without padding."""
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def dns01_challenge(authz: Authorization) -> Challenge:
    found = authz.challenge(ChallengeType.DNS_01)
    if found is None or not found.token:
        raise challenge_not_offered(
            challenge_type=ChallengeType.DNS_01, name=shown_name(authz), offered=authz.offered()
        )
    return found


def dns01_targets_check(hostnames: Sequence[str]) -> list[ChallengeTarget]:
    """Before an order is stored: every name's DNS provider, or a DnsError naming the first name without one."""
    targets = []
    for name in hostnames:
        try:
            targets.append(dns_challenge_target(name))
        except DnsUnavailable as exc:
            raise DnsError(f"Cannot check {name} for DNS-01: {exc}") from None
        except DnsError as exc:
            raise DnsError(f"{name} cannot be validated with DNS-01: {exc}") from None
    return targets


@contextmanager
def _dns_errors(name: str) -> Iterator[None]:
    try:
        yield
    except DnsUnavailable as exc:
        raise AcmeError("dnsUnavailable", f"DNS-01 for {name}: {exc}", transient=True) from None
    except DnsError as exc:
        raise AcmeError("dnsChallenge", f"DNS-01 for {name}: {exc}") from None


def dns01_publish(
    order: AcmeOrder, session: AcmeSession, pending: Sequence[Authorization], *, note: Note, tick: Callable[[], None]
) -> list[tuple[Authorization, Challenge]]:
    """Publish the TXT record of every pending authorization, then wait until every nameserver serves each one."""
    published = []
    for authz in pending:
        challenge = dns01_challenge(authz)
        name = shown_name(authz)
        with _dns_errors(name):
            target = dns_challenge_target(authz.identifier)
            value = dns01_txt_value(session.key_authorization(challenge.token))
            record = dns_record_publish(
                provider=target.provider, zone=target.zone, fqdn=target.fqdn, value=value, order=order
            )
        published.append(Published(authz, challenge, record))
    if published:
        note("TXT records added: " + ", ".join(f"{p.name} at {p.record.fqdn}" for p in published))
        _wait(published, note=note, tick=tick)
    return [(p.authz, p.challenge) for p in published]


def _wait(published: list[Published], *, note: Note, tick: Callable[[], None]) -> None:
    seconds = float(settings.CERTPANEL_DNS_PROPAGATION_SECONDS)
    deadline = time.monotonic() + seconds
    nameservers: dict[tuple[int, str], list[Nameserver]] = {}
    said = ""

    def progress(name: str, sentence: str) -> None:
        nonlocal said
        line = f"{name}: {sentence}"
        if line != said:
            note(line)
            said = line

    def sleep(delay: float) -> None:
        tick()  # the lease: the resume sweep must not hand this order to another worker while it waits
        time.sleep(delay)

    for entry in published:
        record = entry.record
        with _dns_errors(entry.name):
            key = (record.provider_id, record.zone)
            if key not in nameservers:
                connection = dns_provider_connection(record.provider)
                nameservers[key] = zone_nameservers(connection.server, record.zone, tsig=connection.tsig)
            wait_for_txt(
                nameservers[key],
                record.fqdn,
                record.value,
                # what is left of the order's wait, to a tenth ("After 300 s" in the message, not "299.998")
                seconds=max(0.0, round(deadline - time.monotonic(), 1)),
                progress=partial(progress, entry.name),
                sleep=sleep,
            )
        tick()


def dns01_cleanup(order: AcmeOrder) -> str:
    """Remove the order's records; what cannot be removed now is logged and left to the renewal sweep. Returns what
    happened in words for the order page ("TXT records removed: 2"), or "" when there was nothing to remove."""
    outcome = dns_records_cleanup(order)
    for failure in outcome.failed:
        log.warning("order #%s: DNS record left in place for the sweep: %s", order.pk, failure)
    said = [f"TXT records removed: {outcome.removed}"] if outcome.removed else []
    if outcome.failed:
        said.append(f"{len(outcome.failed)} left for the renewal sweep to remove")
    return "; ".join(said)
