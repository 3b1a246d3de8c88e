"""A wildcard by DNS-01 in a real browser, as an admin gets one: log in → Settings → DNS providers → the zone's
provider added through the form (BIND's address and port, the TSIG key) → Test: every nameserver serves →
Repository → Let's Encrypt → New Certificate: a wildcard with HTTP-01 is refused next to the field and nothing is
stored; with DNS-01 the order page shows the nameservers serving the record and reloads itself once issued → the
certificate shows both names and "DNS-01". The world is test_dns01_live's: Pebble resolving through BIND and a real
Celery worker on the live server's database."""

from __future__ import annotations

from typing import Any

import pytest

from repository.models import AcmeOrder, Certificate, DnsChallengeRecord, DnsProvider
from tests.repository.dns.conftest import DnsWorld
from tests.repository.dns.test_dns01_live import World, world  # noqa: F401 - the module's DNS-01 world
from tests.support.screenshots import save_screenshot
from tests.test_browser import _login, browser, page  # noqa: F401 - the Chromium fixtures

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ZONE = "example.test"


@pytest.fixture(autouse=True)
def _resolver(dns_world: DnsWorld, settings: Any) -> None:
    settings.CERTPANEL_DNS_RESOLVERS = [dns_world.primary.server]  # the live server's Test and checks


def _add_provider(tab: Any, dns: DnsWorld) -> None:
    tab.click("nav >> text=Settings")
    tab.click("#dns-providers-link a")
    tab.wait_for_url("**/settings/dns-providers/")
    tab.fill("#id_zone", ZONE)
    tab.fill("#id_server", dns.primary.server)  # HOST:PORT: BIND is not on port 53
    tab.fill("#id_tsig_name", dns.key.name)
    tab.select_option("#id_tsig_algorithm", dns.key.algorithm)
    tab.fill("#id_tsig_secret", dns.key.secret)
    tab.click("#dns-provider-add button:has-text('Add')")
    assert f"DNS provider for {ZONE} added" in tab.inner_text(".messages")
    tab.click("#dns-providers button:has-text('Test')")
    tab.wait_for_selector("#dns-test-answers")
    assert f"Every nameserver of {ZONE} served the test record" in tab.inner_text("#dns-test")
    served = tab.locator("#dns-test-answers .badge.valid")
    assert served.count() == tab.locator("#dns-test-answers tbody tr").count() == 1


def _refuse_wildcard_over_http01(tab: Any) -> None:
    tab.fill("#id_hostnames", f"*.{ZONE}\n{ZONE}")
    tab.select_option("#id_challenge", "http-01")
    tab.click("button:has-text('Request certificate')")
    error = tab.locator(".field.has-error")
    assert error.locator("#id_hostnames").count() == 1, "the error stands next to the hostnames"
    assert f"'*.{ZONE}' is a wildcard: HTTP-01 cannot validate wildcards" in error.inner_text()
    assert not AcmeOrder.objects.exists() and not Certificate.objects.exists()


def test_an_admin_gets_a_wildcard_by_dns01_from_the_dns_provider_form_to_the_issued_certificate(
    page: Any,  # noqa: F811 - the fixture imported above
    world: World,  # noqa: F811
) -> None:
    world.stack.account()
    _login(page)
    page.wait_for_url("**/")
    _add_provider(page, world.dns)
    assert DnsProvider.objects.get().zone == ZONE

    page.click("nav >> text=Repository")
    page.click(".tabs >> text=Let's Encrypt")
    page.click("text=New Certificate")
    _refuse_wildcard_over_http01(page)
    page.fill("#id_hostnames", f"*.{ZONE}\n{ZONE}")
    page.select_option("#id_challenge", "dns-01")
    page.click("button:has-text('Request certificate')")
    page.wait_for_url("**/certificates/orders/*/")
    assert page.inner_text("#challenge-type") == "DNS-01"
    # The page polls and reloads itself once the order is final: no manual refresh.
    page.wait_for_selector("#result >> text=Issued:", timeout=45_000)
    steps = page.inner_text("#steps")
    for name in (ZONE, f"*.{ZONE}"):
        assert f"{name}: 1 of 1 nameserver serves the record" in steps, steps + world.log()
    order = AcmeOrder.objects.get()
    assert order.status == "issued" and order.challenge_type == "dns-01"
    world.no_record_left(order)
    assert DnsChallengeRecord.objects.filter(order=order).count() == 2

    page.click("#result a")
    page.wait_for_url("**/certificates/*/")
    assert page.inner_text("h1").startswith(f"*.{ZONE}")
    sans = page.inner_text("table.fields tr:has(th:text-is('Names (SAN)')) td")
    assert sorted(sans.split(", ")) == sorted([f"*.{ZONE}", ZONE]), sans
    assert page.inner_text("#acme-challenge") == "DNS-01"
    entry = order.certificate
    assert entry is not None
    assert sorted(entry.sans) == sorted([f"*.{ZONE}", ZONE])
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        save_screenshot(page, "dns01-wildcard-certificate")
