"""Challenge records: a row before the update, removal by value and idempotent, cleanup per order, the sweep of
what a dead worker left."""

from __future__ import annotations

from datetime import timedelta
from secrets import token_hex

import pytest
from django.utils import timezone

from repository.dns.checks import dns_provider_test
from repository.dns.providers import dns_provider_create
from repository.dns.records import (
    dns_record_publish,
    dns_record_remove,
    dns_records_cleanup,
    dns_records_orphaned,
    dns_records_sweep,
)
from repository.errors import DnsError, DnsUnavailable
from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeOrder, DnsChallengeRecord, DnsProvider, OrderStatus
from tests.repository.dns.conftest import DnsWorld
from tests.support.factories import ec_key
from tests.support.pebble import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(dns_world: DnsWorld) -> DnsProvider:
    return dns_provider_create(**dns_world.provider_fields("example.test"))


def order(status: str = OrderStatus.VALIDATING) -> AcmeOrder:
    account = AcmeAccount.objects.first() or AcmeAccount.objects.create(
        name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key())
    )
    return AcmeOrder.objects.create(
        account=account, hostnames=["www.example.test"], key_type="ec256", status=status, names_digest=token_hex(8)
    )


def test_publish_then_remove(dns_world: DnsWorld, provider: DnsProvider, token: str) -> None:
    fqdn = f"_acme-challenge.{token}.example.test"
    record = dns_record_publish(provider=provider, fqdn=fqdn, value="v1")
    assert dns_world.primary.txt(fqdn) == ["v1"] and record.removed_at is None
    dns_record_remove(record)
    assert dns_world.primary.txt(fqdn) == [] and record.removed_at is not None
    assert dns_record_remove(record).removed_at == record.removed_at  # again: nothing to do


def test_the_row_exists_before_the_update_is_sent(dns_world: DnsWorld, provider: DnsProvider, token: str) -> None:
    # A server that does not answer: the update may or may not have landed, so the row stays live for the sweep.
    DnsProvider.objects.filter(pk=provider.pk).update(port=free_port())
    provider.refresh_from_db()
    with pytest.raises(DnsUnavailable):
        dns_record_publish(provider=provider, fqdn=f"{token}.example.test", value="v")
    row = DnsChallengeRecord.objects.get()
    assert row.removed_at is None and "refused the connection" in row.error


def test_a_refused_update_closes_its_row(provider: DnsProvider) -> None:
    with pytest.raises(DnsError, match=r"is a CNAME"):
        dns_record_publish(provider=provider, fqdn="alias.example.test", value="v")
    assert DnsChallengeRecord.objects.get().removed_at is not None


def test_cleanup_removes_only_what_the_order_added(dns_world: DnsWorld, provider: DnsProvider, token: str) -> None:
    fqdn = f"_acme-challenge.{token}.example.test"
    mine, theirs = order(), order()
    dns_record_publish(provider=provider, fqdn=fqdn, value="mine", order=mine)
    dns_record_publish(provider=provider, fqdn=fqdn, value="theirs", order=theirs)
    outcome = dns_records_cleanup(mine)
    assert (outcome.removed, outcome.failed) == (1, [])
    assert dns_world.primary.txt(fqdn) == ["theirs"]
    assert DnsChallengeRecord.objects.get(order=theirs).removed_at is None
    dns_records_cleanup(theirs)
    assert dns_world.primary.txt(fqdn) == []


def test_the_sweep_removes_orphans_and_leaves_active_orders_alone(
    dns_world: DnsWorld, provider: DnsProvider, token: str
) -> None:
    fqdn = f"_acme-challenge.{token}.example.test"
    active, ended = order(), order(OrderStatus.FAILED)
    dead_worker = dns_record_publish(provider=provider, fqdn=fqdn, value="crashed")
    for_ended = dns_record_publish(provider=provider, fqdn=fqdn, value="ended", order=ended)
    for_active = dns_record_publish(provider=provider, fqdn=fqdn, value="active", order=active)
    fresh = dns_record_publish(provider=provider, fqdn=fqdn, value="fresh")
    hour_ago = timezone.now() - timedelta(hours=1)
    DnsChallengeRecord.objects.exclude(pk=fresh.pk).update(created_at=hour_ago)

    assert set(dns_records_orphaned(timezone.now())) == {dead_worker, for_ended}
    outcome = dns_records_sweep()
    assert (outcome.removed, outcome.failed) == (2, [])
    assert sorted(dns_world.primary.txt(fqdn)) == ["active", "fresh"]
    assert DnsChallengeRecord.objects.get(pk=for_active.pk).removed_at is None
    assert not dns_records_orphaned(timezone.now()).exists()

    DnsChallengeRecord.objects.filter(pk=dead_worker.pk).update(removed_at=timezone.now() - timedelta(days=31))
    dns_records_sweep()
    assert not DnsChallengeRecord.objects.filter(pk=dead_worker.pk).exists(), "old history is forgotten"
    assert DnsChallengeRecord.objects.filter(pk=for_ended.pk).exists()


def test_the_provider_test_uses_the_zone_challenge_name_unless_it_is_a_cname(dns_world: DnsWorld) -> None:
    apex = dns_provider_create(**dns_world.provider_fields("example.test"))
    test = dns_provider_test(apex, seconds=5)
    assert test.ok and test.fqdn == "_acme-challenge.example.test", test.error
    assert [answer.serves for answer in test.answers] == [True]
    delegated = dns_provider_create(**dns_world.provider_fields("delegated.test"))
    test = dns_provider_test(delegated, seconds=5)
    assert test.ok and test.fqdn == "_certpanel-test.delegated.test", test.error
    assert dns_world.primary.txt(test.fqdn) == [] and not DnsChallengeRecord.objects.filter(removed_at=None).exists()


def test_oversized_values_are_refused_before_anything_is_stored(provider: DnsProvider) -> None:
    with pytest.raises(DnsError, match="over 255 characters"):
        dns_record_publish(provider=provider, fqdn="x.example.test", value="v" * 256)
    assert not DnsChallengeRecord.objects.exists()
