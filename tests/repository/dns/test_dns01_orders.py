"""DNS-01 orders before any CA is asked: the names a challenge type takes, the TXT value, and New Certificate and
`certs issue` refusing what cannot be validated (a wildcard with HTTP-01, a name no DNS provider holds), with
nothing stored. The names without a provider are looked up at the real BIND of dns_world."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from acme import challenges
from django.test import Client
from django.utils import timezone
from josepy.jwk import JWKEC

from repository.acme.client import Authorization, Challenge, authorization_from
from repository.acme.dns_challenges import dns01_challenge, dns01_txt_value, shown_name
from repository.acme.orders import acme_order_retry, order_hostnames
from repository.acme.problems import AcmeError
from repository.dns.providers import dns_provider_create
from repository.dns.records import dns_record_publish, dns_records_cleanup
from repository.errors import CryptoError
from repository.keystore import key_store
from repository.models import AcmeAccount, AcmeOrder, DnsChallengeRecord
from repository.tasks import renewal_sweep_task
from tests.repository.dns.conftest import DnsWorld
from tests.support.factories import ec_key

NEW = "/certificates/letsencrypt/new/"


@pytest.fixture
def account(db: None) -> AcmeAccount:
    return AcmeAccount.objects.create(name="ca", directory_url="https://ca.invalid/dir", key=key_store(ec_key()))


@pytest.fixture
def resolver(dns_world: DnsWorld, settings: Any) -> None:
    # Names outside every provider's zone are looked up here, not at the machine's resolver.
    settings.CERTPANEL_DNS_RESOLVERS = [dns_world.primary.server]


def test_wildcards_need_dns01_and_only_a_leading_label() -> None:
    assert order_hostnames(["*.Example.COM", "example.com", "*.example.com"], "dns-01") == [
        "*.example.com",
        "example.com",
    ]
    with pytest.raises(CryptoError, match=r"'\*.example.com' is a wildcard: HTTP-01 cannot validate wildcards"):
        order_hostnames(["*.example.com"])
    for bad in ("a.*.example.com", "*example.com", "*.*.example.com"):
        with pytest.raises(CryptoError, match="not a valid hostname"):
            order_hostnames([bad], "dns-01")
    with pytest.raises(CryptoError, match="only a leading"):
        order_hostnames(["*.com"], "dns-01")


def test_the_txt_value_is_the_digest_of_the_key_authorization_as_the_acme_library_computes_it() -> None:
    key = JWKEC(key=ec_key())
    token = b"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
    expected = challenges.DNS01(token=token).validation(key)
    thumbprint = challenges.DNS01(token=token).key_authorization(key)
    assert dns01_txt_value(thumbprint) == expected and "=" not in expected and len(expected) == 43


def test_a_wildcard_authorization_is_named_with_its_star_and_must_offer_dns01() -> None:
    authz = authorization_from(
        "u",
        {
            "status": "pending",
            "identifier": {"type": "dns", "value": "example.com"},
            "wildcard": True,
            "challenges": [{"type": "http-01", "url": "c", "token": "t", "status": "pending"}],
        },
    )
    assert authz.wildcard and authz.identifier == "example.com" and shown_name(authz) == "*.example.com"
    with pytest.raises(AcmeError, match=r"offers no DNS-01 challenge for \*.example.com \(offered: http-01\)"):
        dns01_challenge(authz)
    offered = Authorization("u", "pending", "example.com", [Challenge("dns-01", "c", "t", "pending", None)])
    assert dns01_challenge(offered).url == "c"


def test_new_certificate_refuses_a_wildcard_with_http01(staff_client: Client, account: AcmeAccount) -> None:
    form = {"hostnames": "*.example.test", "key_type": "ec256", "account": account.pk, "challenge": "http-01"}
    page = html.unescape(staff_client.post(NEW, form).content.decode())
    assert "'*.example.test' is a wildcard: HTTP-01 cannot validate wildcards (they need DNS-01)" in page
    assert not AcmeOrder.objects.exists()


def test_new_certificate_offers_dns01_and_refuses_a_name_without_provider(
    staff_client: Client, account: AcmeAccount, dns_world: DnsWorld, resolver: None
) -> None:
    page = html.unescape(staff_client.get(NEW).content.decode())
    assert "DNS-01: a TXT record in each name's zone" in page and 'href="/settings/dns-providers/"' in page
    dns_provider_create(**dns_world.provider_fields("delegated.test"))
    form = {"hostnames": "*.nope.example.test", "key_type": "ec256", "account": account.pk, "challenge": "dns-01"}
    page = html.unescape(staff_client.post(NEW, form).content.decode())
    assert "*.nope.example.test cannot be validated with DNS-01: No DNS provider holds _acme-challenge." in page
    assert not AcmeOrder.objects.exists() and not DnsChallengeRecord.objects.exists()


def test_certs_issue_refuses_a_wildcard_with_http01_and_a_name_without_provider(
    cli: Callable[..., Any], account: AcmeAccount, dns_world: DnsWorld, resolver: None
) -> None:
    refused = cli("certs", "issue", "--domain", "*.example.test", "--domain", "example.test")
    assert refused.code == 1 and "is a wildcard: HTTP-01 cannot validate wildcards" in refused.error_line
    refused = cli("certs", "issue", "--challenge", "dns-01", "--domain", "*.example.test", "--domain", "example.test")
    assert refused.code == 1
    assert "*.example.test cannot be validated with DNS-01: No DNS provider holds" in refused.error_line
    refused = cli("certs", "issue", "--challenge", "tls-alpn-01", "--domain", "example.test")
    assert refused.code == 2 and "invalid choice: 'tls-alpn-01'" in refused.err
    assert not AcmeOrder.objects.exists() and not DnsChallengeRecord.objects.exists()


def _order(account: AcmeAccount, status: str, name: str) -> AcmeOrder:
    return AcmeOrder.objects.create(
        account=account, hostnames=[name], key_type="ec256", status=status, challenge_type="dns-01", names_digest=name
    )


def test_retry_keeps_the_challenge_type(account: AcmeAccount, dns_world: DnsWorld, token: str) -> None:
    dns_provider_create(**dns_world.provider_fields("example.test"))
    failed = _order(account, "failed", f"*.{token}.example.test")
    again = acme_order_retry(failed.pk)
    assert again.challenge_type == "dns-01" and again.hostnames == [f"*.{token}.example.test"]


def test_the_renewal_sweep_removes_the_records_of_ended_orders_at_once_and_keeps_active_ones(
    transactional_db: None, account: AcmeAccount, dns_world: DnsWorld, token: str
) -> None:
    provider = dns_provider_create(**dns_world.provider_fields("example.test"))
    fqdn = f"_acme-challenge.{token}.example.test"
    ended, active = _order(account, "failed", f"a.{token}.test"), _order(account, "validating", f"b.{token}.test")
    dns_record_publish(provider=provider, fqdn=fqdn, value="ended", order=ended)
    kept = dns_record_publish(provider=provider, fqdn=fqdn, value="active", order=active)
    DnsChallengeRecord.objects.filter(pk=kept.pk).update(created_at=timezone.now() - timedelta(days=1))
    summary = renewal_sweep_task()
    assert (summary["dns_records_removed"], summary["dns_records_left"]) == (1, 0)
    assert dns_world.primary.txt(fqdn) == ["active"]
    dns_records_cleanup(active)
