"""`dns test ZONE` and the settings page's Test button: the whole DNS-01 path for one provider, as an order would
use it. A test TXT record is added at ``_certpanel-test.<zone>`` (through records.py, so a crash leaves a row the
sweep removes), every nameserver of the zone is asked until it serves it, and the record is removed again."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from repository.dns.propagation import NameserverAnswer, Progress, PropagationTimeout, wait_for_txt, zone_nameservers
from repository.dns.providers import dns_provider_connection
from repository.dns.records import dns_record_publish, dns_record_remove
from repository.errors import DnsError, KeyStoreError
from repository.models import DnsProvider

TEST_LABEL = "_certpanel-test"
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
    fqdn = f"{TEST_LABEL}.{provider.zone}"
    test = ProviderTest(provider.zone, fqdn, f"certpanel-test-{secrets.token_urlsafe(12)}")

    def step(sentence: str) -> None:
        test.steps.append(sentence)
        progress(sentence)

    try:
        connection = dns_provider_connection(provider)
        nameservers = zone_nameservers(connection.server, provider.zone, tsig=connection.tsig)
        step(f"Nameservers of {provider.zone}: {', '.join(str(ns) for ns in nameservers)}.")
        record = dns_record_publish(provider=provider, fqdn=fqdn, value=test.value)
    except (DnsError, KeyStoreError) as exc:
        test.error = str(exc)
        return test
    step(f"Added TXT {fqdn} through {connection.server}.")
    try:
        outcome = wait_for_txt(nameservers, fqdn, test.value, seconds=seconds, progress=step)
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
