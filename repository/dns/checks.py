"""`dns test ZONE` and the settings page's Test button: the whole DNS-01 path for one provider, as an order would
use it. A test TXT value is added at ``_acme-challenge.<zone>`` (through records.py, so a crash leaves a row the
sweep removes), every nameserver of the zone is asked until it serves it, and the value is removed again.

That name, because it is the one a certificate for the zone's own name uses, and update policies that allow only
``_acme-challenge`` names allow it; a live challenge there is not disturbed (each value is added and removed on its
own). When ``_acme-challenge.<zone>`` is a CNAME (the zone delegates its challenges), ``_certpanel-test.<zone>`` is
used instead."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from repository.dns.propagation import NameserverAnswer, Progress, PropagationTimeout, wait_for_txt, zone_nameservers
from repository.dns.providers import dns_provider_connection
from repository.dns.records import dns_record_publish, dns_record_remove
from repository.dns.targets import challenge_name
from repository.dns.zones import cname_at
from repository.errors import DnsError, KeyStoreError
from repository.models import DnsProvider

FALLBACK_LABEL = "_certpanel-test"
TEST_SECONDS = 30.0


@dataclass
class ProviderTest:
    zone: str
    fqdn: str
    value: str
    answers: list[NameserverAnswer] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # what was done, in order, in plain words
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def dns_provider_test(
    provider: DnsProvider, *, seconds: float = TEST_SECONDS, progress: Progress = lambda _: None
) -> ProviderTest:
    """Never raises a DnsError: the outcome (and each nameserver's answer) is in the returned ProviderTest."""
    test = ProviderTest(provider.zone, challenge_name(provider.zone), f"certpanel-test-{secrets.token_urlsafe(12)}")

    def step(sentence: str) -> None:
        test.steps.append(sentence)
        progress(sentence)

    try:
        connection = dns_provider_connection(provider)
        if cname_at(connection.server, test.fqdn, tsig=connection.tsig) is not None:
            test.fqdn = f"{FALLBACK_LABEL}.{provider.zone}"
        nameservers = zone_nameservers(connection.server, provider.zone, tsig=connection.tsig)
        step(f"Nameservers of {provider.zone}: {', '.join(str(ns) for ns in nameservers)}.")
        record = dns_record_publish(provider=provider, fqdn=test.fqdn, value=test.value)
    except (DnsError, KeyStoreError) as exc:
        test.error = str(exc)
        return test
    step(f"Added TXT {test.fqdn} through {connection.server}.")
    try:
        outcome = wait_for_txt(nameservers, test.fqdn, test.value, seconds=seconds, progress=step)
        test.answers = outcome.answers
    except PropagationTimeout as exc:
        test.answers, test.error = exc.answers, str(exc)
    finally:
        try:
            dns_record_remove(record)
            step(f"Removed the test record from {provider.zone}.")
        except (DnsError, KeyStoreError) as exc:
            test.error = test.error or f"The test record could not be removed: {exc}"
    return test
