"""DNS-01 orders on the real path: the BIND and Knot servers of dns_world, Pebble resolving through BIND (behind
tests/support/dns_spoiler.py, which can make it see a wrong value), and a real Celery worker. One world for the
module; each test writes under names of its own.

The worker waits CERTPANEL_DNS_PROPAGATION_SECONDS=5 for the nameservers, with a 3-second order lease (a killed
worker's order is resumed moments later)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from repository.acme.orders import acme_order_create
from repository.dns.names import tsig_secret
from repository.dns.providers import dns_provider_create
from repository.keystore import current_kek, seal
from repository.models import AcmeOrder, Certificate, DnsChallengeRecord, DnsProvider
from repository.tasks import order_resume_sweep_task, queue_order
from tests.repository.dns.conftest import DnsWorld
from tests.support.acme_stack import Stack, acme_stack
from tests.support.dns_server import TsigKey
from tests.support.dns_spoiler import DnsSpoiler, dns_spoiler
from tests.support.pebble import PebbleOptions
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

PROPAGATION_SECONDS = 5


class World:
    def __init__(self, stack: Stack, spoiler: DnsSpoiler, dns: DnsWorld) -> None:
        self.stack, self.spoiler, self.dns = stack, spoiler, dns
        self.worker = "worker"

    def log(self) -> str:
        return self.stack.worker_log(self.worker)

    def provider(self, zone: str) -> DnsProvider:
        return dns_provider_create(**self.dns.provider_fields(zone))

    def final(self, order: AcmeOrder, timeout: float = 60) -> AcmeOrder:
        found = wait_for(
            lambda: AcmeOrder.objects.filter(pk=order.pk, status__in=["issued", "failed"]).first(),
            timeout=timeout,
            what=f"order #{order.pk} to end",
            log=self.stack.workdir / f"{self.worker}.log",
        )
        assert isinstance(found, AcmeOrder)
        return found

    def no_record_left(self, order: AcmeOrder) -> None:
        rows = list(DnsChallengeRecord.objects.filter(order=order))
        assert rows and all(row.removed_at is not None for row in rows), [(r.fqdn, r.error) for r in rows]
        for row in rows:
            assert row.value not in self.dns.primary.txt(row.fqdn)


@pytest.fixture(scope="module")
def world(dns_world: DnsWorld, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    env = {
        "CERTPANEL_DNS_PROPAGATION_SECONDS": str(PROPAGATION_SECONDS),
        "CERTPANEL_ACME_LEASE_SECONDS": "3",
        "CERTPANEL_DNS_RESOLVERS": dns_world.primary.server,
    }
    with dns_spoiler("127.0.0.1", dns_world.port) as spoiler:
        options = PebbleOptions(http_port=0, dns_server=spoiler.address)
        with acme_stack(tmp_path_factory.mktemp("dns01"), pebble=options, env=env) as stack:
            yield World(stack, spoiler, dns_world)


@pytest.fixture(autouse=True)
def _resolver(dns_world: DnsWorld, settings: Any) -> None:
    settings.CERTPANEL_DNS_RESOLVERS = [dns_world.primary.server]  # this process's checks before ordering


def _issue(cli: Callable[..., Any], world: World, *args: str) -> Any:
    return cli("certs", "issue", "--challenge", "dns-01", *args, "--wait", "--json", "--timeout", "60")


def test_a_wildcard_and_its_base_name_issue_and_renew_over_dns01_and_the_records_go(
    cli: Callable[..., Any], staff_client: Client, world: World, token: str
) -> None:
    world.stack.account()
    world.provider("example.test")
    base = f"{token}.example.test"
    result = _issue(cli, world, "--domain", f"*.{base}", "--domain", base)
    assert result.code == 0, result.err + world.log()
    entry = Certificate.objects.get(pk=json.loads(result.out)["id"])
    assert sorted(entry.sans) == sorted([f"*.{base}", base]) and entry.acme_challenge == "dns-01"
    order = AcmeOrder.objects.get(certificate=entry)
    assert order.challenge_type == "dns-01"
    world.no_record_left(order)
    assert DnsChallengeRecord.objects.filter(order=order).values("fqdn").distinct().count() == 1, "one shared name"
    assert DnsChallengeRecord.objects.filter(order=order).values("value").distinct().count() == 2, "two values"
    lines = [event.message for event in order.events.all()]
    assert any(
        line.startswith("TXT records added: ") and f"*.{base} at _acme-challenge.{base}" in line for line in lines
    )
    assert f"{base}: 1 of 1 nameserver serves the record" in lines
    assert f"*.{base}: 1 of 1 nameserver serves the record" in lines
    assert lines[-1] == f"certificate #{entry.pk}; TXT records removed: 2", "the last step says the records went"

    page = staff_client.get(reverse("repository:order", args=[order.pk])).content.decode()
    assert '<span id="challenge-type">DNS-01</span>' in page and f"{base}: 1 of 1 nameserver serves" in page
    page = staff_client.get(reverse("repository:detail", args=[entry.pk])).content.decode()
    assert '<td id="acme-challenge">DNS-01</td>' in page

    renewed = cli("certs", "renew", "--id", str(entry.pk), "--wait", "--json", "--timeout", "60")
    assert renewed.code == 0, renewed.err + world.log()
    second = Certificate.objects.get(pk=json.loads(renewed.out)["id"])
    assert second.acme_challenge == "dns-01" and sorted(second.sans) == sorted(entry.sans)
    world.no_record_left(AcmeOrder.objects.get(certificate=second))


def test_a_cname_delegated_challenge_name_issues_from_new_certificate(
    transactional_db: None, staff_client: Client, world: World
) -> None:
    account = world.stack.account()
    world.provider("delegated.test")  # no key for example.test: its _acme-challenge.deleg points into this zone
    form = {"hostnames": "deleg.example.test", "key_type": "ec256", "account": account.pk, "challenge": "dns-01"}
    response = staff_client.post("/certificates/letsencrypt/new/", form)
    assert response.status_code == 302, response.content.decode()
    order = world.final(AcmeOrder.objects.get())
    assert order.status == "issued", order.error + world.log()
    record = DnsChallengeRecord.objects.get(order=order)
    assert (record.fqdn, record.zone) == ("deleg.challenges.delegated.test", "delegated.test")
    world.no_record_left(order)


def test_a_wrong_tsig_secret_fails_the_order_in_plain_words_and_leaves_no_record(
    cli: Callable[..., Any], world: World, token: str
) -> None:
    account = world.stack.account()
    provider = world.provider("example.test")
    order = acme_order_create(account=account, hostnames=[f"{token}.example.test"], challenge="dns-01")
    # Another valid secret, sealed as the form would: the server refuses the key from now on.
    wrong = seal(tsig_secret(TsigKey.generate().secret), kek=current_kek())
    DnsProvider.objects.filter(pk=provider.pk).update(tsig_secret_sealed=wrong)
    queue_order(order.pk)
    order = world.final(order)
    assert order.status == "failed" and order.problem_type == "dnsChallenge", order.error
    assert order.error.startswith(f"DNS-01 for {token}.example.test: ") and "TSIG key 'certpanel-test'" in order.error
    assert not DnsChallengeRecord.objects.filter(removed_at=None).exists()
    assert world.dns.primary.txt(f"_acme-challenge.{token}.example.test") == []

    refused = cli("certs", "issue", "--challenge", "dns-01", "--domain", f"again.{token}.example.test")
    assert refused.code == 1 and "TSIG key 'certpanel-test'" in refused.error_line
    assert AcmeOrder.objects.count() == 1, "nothing stored"


def test_a_value_the_ca_does_not_see_fails_with_its_reason_and_the_records_go(
    cli: Callable[..., Any], world: World, token: str
) -> None:
    world.stack.account()
    world.provider("example.test")
    world.spoiler.spoiled.add(f"_acme-challenge.{token}.example.test")
    result = _issue(cli, world, "--domain", f"{token}.example.test")
    assert result.code == 1, result.out
    order = AcmeOrder.objects.get()
    assert order.status == "failed" and order.problem_type == "unauthorized", order.error
    assert order.error.startswith(
        f"The CA looked up TXT _acme-challenge.{token}.example.test and did not find the value the panel published: "
    ), order.error
    world.no_record_left(order)
    assert order.events.last().message == f"{order.error} (TXT records removed: 1)"


def test_a_nameserver_that_never_serves_the_record_fails_the_order_after_the_bounded_wait(
    cli: Callable[..., Any], world: World, token: str
) -> None:
    world.stack.account()
    world.provider("stale.test")  # ns1 is BIND, ns3 the static Knot copy on 127.0.0.3 that never learns an update
    name = f"{token}.stale.test"
    started = time.monotonic()
    result = _issue(cli, world, "--domain", name)
    assert result.code == 1 and time.monotonic() - started < PROPAGATION_SECONDS + 15
    order = AcmeOrder.objects.get()
    assert order.status == "failed" and order.problem_type == "dnsChallenge"
    assert order.error.startswith(
        f"DNS-01 for {name}: After {PROPAGATION_SECONDS} s, 1 of 2 nameservers serve the record at "
        f"_acme-challenge.{name}. Not served by: ns3.stale.test (127.0.0.3 port {world.dns.port}): does not serve "
        "it yet."
    ), order.error
    lines = [event.message for event in order.events.all()]
    assert f"{name}: 1 of 2 nameservers serve the record; waiting for ns3.stale.test" in " ".join(lines)
    world.no_record_left(order)


def _knot(world: World, *commands: list[str]) -> None:
    socket = Path(world.dns.stale.workdir) / "knot.sock"
    for command in commands:
        subprocess.run(["/usr/sbin/knotc", "-s", str(socket), *command], check=True, capture_output=True, timeout=10)


def test_a_worker_killed_while_waiting_for_the_nameservers_is_resumed_and_no_record_is_left(
    cli: Callable[..., Any], world: World, token: str
) -> None:
    world.stack.account()
    world.provider("stale.test")
    name = f"{token}.stale.test"
    assert cli("certs", "issue", "--challenge", "dns-01", "--domain", name).code == 0
    order = AcmeOrder.objects.get()
    wait_for(
        lambda: order.events.filter(message__contains="waiting for ns3.stale.test").exists(),
        timeout=30,
        what="the wait for the nameservers",
        log=world.stack.workdir / f"{world.worker}.log",
    )
    world.stack.kill_worker(world.worker)
    # The nameserver catches up while no worker runs (a slow zone transfer): the resumed order can complete.
    owner = f"_acme-challenge.{name}."
    values = list(DnsChallengeRecord.objects.filter(order=order).values_list("value", flat=True).distinct())
    sets = [["zone-set", "stale.test", owner, "60", "TXT", f'"{value}"'] for value in values]
    _knot(world, ["zone-begin", "stale.test"], *sets, ["zone-commit", "stale.test"])
    try:
        world.worker = "worker2"
        world.stack.start_worker(world.worker)
        deadline = time.monotonic() + 60
        while AcmeOrder.objects.get(pk=order.pk).is_active and time.monotonic() < deadline:
            order_resume_sweep_task.delay()  # resumes the order once the dead worker's lease has run out
            time.sleep(1)
        order.refresh_from_db()
        assert order.status == "issued", order.error + world.log()
        assert order.attempts >= 2
        world.no_record_left(order)
    finally:
        _knot(
            world,
            ["zone-begin", "stale.test"],
            ["zone-unset", "stale.test", owner, "TXT"],
            ["zone-commit", "stale.test"],
        )
