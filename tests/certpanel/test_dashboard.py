"""The dashboard (/): counts, the expiry timeline, the services matrix, recent failures and the health banner,
with a query count that does not grow with the number of certificates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from certpanel.dashboard.selectors import (
    _overview_postgresql,
    certificate_counts,
    certificates_overview,
    expiry_timeline,
)
from certpanel.dashboard.timeline import STACK, Row, timeline_layout
from certpanel.models import Heartbeat, Notification
from certpanel.templatetags.durations import ago
from repository.models import AcmeAccount, AcmeOrder, Certificate, OrderStatus, PrivateKey
from repository.selectors import certificate_counts as list_counts
from services.models import Deployment, DeploymentStatus, Listener

pytestmark = pytest.mark.django_db


def certificate(name: str, *, days: float | None, renew_in: float | None = None, **fields: object) -> Certificate:
    now = timezone.now()
    return Certificate.objects.create(
        name=name,
        source="imported",
        common_name=name,
        certificate_pem="" if days is None else "x",
        not_before=None if days is None else now - timedelta(days=10),
        not_after=None if days is None else now + timedelta(days=days),
        renew_at=None if renew_in is None else now + timedelta(days=renew_in),
        **fields,
    )


def many(count: int, *, start: int = 0) -> None:
    now = timezone.now()
    Certificate.objects.bulk_create(
        Certificate(name=f"bulk{n}", source="imported", certificate_pem="x", not_after=now + timedelta(days=n % 150))
        for n in range(start, start + count)
    )


def listeners(count: int) -> None:
    certs = list(Certificate.objects.exclude(not_after=None).order_by("id")[:count])
    Listener.objects.bulk_create(
        Listener(name=f"l{n}", protocol="smtps", port=10000 + n, certificate=certs[n % len(certs)] if certs else None)
        for n in range(count)
    )


def test_counts_link_to_the_filtered_list(staff_client: Client) -> None:
    certificate("ok", days=200)
    certificate("soon", days=10)
    certificate("gone", days=-1)
    certificate("csr", days=None)
    certificate("stuck", days=200, renewal_failures=2)
    html = staff_client.get("/").content.decode()
    counts = dict(re.findall(r'\?status=(\w+)">\s*<span class="dash-number">(\d+)</span>', html))
    assert counts == {"valid": "2", "expiring": "1", "expired": "1", "failing": "1", "pending": "1"}


def test_timeline_marks_only_the_next_120_days_each_a_link_with_its_renewal(staff_client: Client) -> None:
    inside = certificate("inside.example", days=40, renew_in=20)
    certificate("late.example", days=130)
    certificate("past.example", days=-2)
    svg = re.search(r"<svg id=\"timeline\".*?</svg>", staff_client.get("/").content.decode(), re.S)
    assert svg is not None
    links = re.findall(r'<a href="/certificates/(\d+)/" class="tl-link"><title>([^<]*)</title>', svg.group(0))
    assert [int(pk) for pk, _ in links] == [inside.pk]
    assert "inside.example — expires" in links[0][1] and "renewal planned" in links[0][1]
    assert svg.group(0).count('class="tl-renew"') == 1
    assert "style=" not in svg.group(0)


def test_timeline_caps_each_day_and_says_how_many_more() -> None:
    today = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [Row(n, f"c{n}", today + timedelta(days=3, hours=1), None, day_total=STACK + 7) for n in range(STACK)]
    layout = timeline_layout(rows, today=today.date(), expiring_days=30)
    assert layout.shown == STACK and layout.total == STACK + 7 and layout.hidden == 7
    assert [more.count for more in layout.more] == [7]


def test_busy_day_shows_plus_n_on_the_page(staff_client: Client) -> None:
    now = timezone.now()
    Certificate.objects.bulk_create(
        Certificate(name=f"same{n}", source="imported", certificate_pem="x", not_after=now + timedelta(days=50))
        for n in range(STACK + 3)
    )
    html = staff_client.get("/").content.decode()
    assert html.count('class="tl-link"') == STACK
    assert ">+3</text>" in html and "+3 more" in html


def test_matrix_colours_each_listener_with_one_reason(staff_client: Client) -> None:
    good = certificate("good", days=200)
    soon = certificate("soon", days=20)
    gone = certificate("gone", days=-3)
    now = timezone.now()
    Listener.objects.create(
        name="green-l", protocol="smtps", port=465, certificate=good, last_verified_at=now, last_verify_ok=True
    )
    Listener.objects.create(
        name="amber-l", protocol="imaps", port=993, certificate=soon, last_verified_at=now, last_verify_ok=True
    )
    Listener.objects.create(name="red-l", protocol="pop3s", port=995, certificate=gone)
    Listener.objects.create(
        name="broken-l",
        protocol="ldaps",
        port=636,
        certificate=good,
        last_verified_at=now,
        last_verify_ok=False,
        last_report=[{"ok": False, "server_name": "ldap.example", "error": "connection refused"}],
    )
    html = staff_client.get("/").content.decode()
    found = re.findall(r'<tr class="dash-row (\w+)">\s*<th scope="row"><a href="[^"]+">([\w-]+)</a>', html)
    rows = {name: colour for colour, name in found}
    assert rows == {"green-l": "green", "amber-l": "amber", "red-l": "red", "broken-l": "red"}
    assert "Last verification failed — ldap.example: connection refused" in html
    assert "expired on" in html


def _failures() -> None:
    key = PrivateKey.objects.create(key_type="ec256", sealed_pem=b"x", public_key_sha256="0" * 64)
    account = AcmeAccount.objects.create(name="le", directory_url="https://ca.example/dir", key=key)
    AcmeOrder.objects.create(
        account=account, hostnames=["bad.example"], key_type="ec256", status=OrderStatus.FAILED, error="rate limited"
    )
    listener = Listener.objects.create(
        name="mx", protocol="smtps", port=465, last_verify_ok=False, last_verified_at=timezone.now()
    )
    Deployment.objects.create(listener=listener, status=DeploymentStatus.ROLLED_BACK, error="postfix check failed")
    Notification.objects.create(
        kind="expiry_warning", message_id="<a@x>", subject="Expiring soon", body_text="b", last_error="SMTP refused"
    )


def test_recent_failures_list_orders_deployments_probes_and_emails(staff_client: Client) -> None:
    _failures()
    failures = staff_client.get("/").content.decode().split('id="failures"')[1]
    for text in ("rate limited", "postfix check failed", "mx", "SMTP refused"):
        assert text in failures


def test_health_banner_when_the_worker_heartbeat_is_stale(staff_client: Client) -> None:
    Heartbeat.objects.create(name="worker", last_seen=timezone.now())
    assert 'id="health-ok"' in staff_client.get("/").content.decode()
    Heartbeat.objects.filter(name="worker").update(last_seen=timezone.now() - timedelta(hours=1))
    html = staff_client.get("/").content.decode()
    assert 'id="health-banner"' in html and "the worker (or beat) has not reported" in html


def test_counts_agree_with_the_certificate_lists_counts() -> None:
    now = timezone.now()
    many(300)
    certificate("csr", days=None)
    certificate("gone", days=-3)
    certificate("quiet", days=5, expiring_from=now + timedelta(days=2))  # not yet in its expiring window
    certificate("loud", days=6, expiring_from=now - timedelta(days=1))
    certificate("stuck", days=20, renewal_failures=3)
    shown = {count.key: count.count for count in certificate_counts(now=now, expiring_days=30)}
    listed = list_counts(now=now)  # the policy's threshold: the default 30 days, nothing stored
    assert {key: shown[key] for key in ("valid", "expiring", "expired", "pending")} == {
        key: listed[key] for key in ("valid", "expiring", "expired", "pending")
    }
    assert shown["failing"] == 1 and sum(shown[key] for key in ("valid", "expiring", "expired", "pending")) == 305


def test_postgresqls_one_query_overview_is_the_portable_counts_and_timeline() -> None:
    """PostgreSQL reads the tiles and the timeline in one query (each day's first few through the expiry index);
    the portable aggregate and window query are the reference: same counts, same marks, totals and order, replaced
    certificates left out, days cut at UTC midnight, pending CSRs and expired ones counted."""
    if connection.vendor != "postgresql":
        pytest.skip("the LATERAL query is PostgreSQL's")
    many(900)
    now = timezone.now()
    midnight = datetime.combine(now.date() + timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    for name, at in (("before", midnight - timedelta(microseconds=1)), ("at", midnight)):
        Certificate.objects.create(name=name, source="imported", certificate_pem="x", not_after=at)
    old = Certificate.objects.filter(not_after__gte=now).order_by("not_after", "id")[:3]
    for n, replaced in enumerate(old):
        certificate(f"renewal{n}", days=200, renewed_from=replaced, renewal_failures=1)
    certificate("csr", days=None, renewal_failures=2)
    certificate("gone", days=-2)
    certificate("quiet", days=5, expiring_from=now + timedelta(days=2))
    counts, timeline = certificates_overview(now=now, expiring_days=30)
    assert counts == certificate_counts(now=now, expiring_days=30)
    assert timeline == expiry_timeline(now=now, expiring_days=30)
    _, rows = _overview_postgresql(now=now, expiring_days=30)
    assert not {row.certificate_id for row in rows} & {c.pk for c in old} and len(rows) > 400
    assert {count.key: count.count for count in counts}["pending"] == 1


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(-5, "just now"), (0, "just now"), (59, "just now"), (60, "1 minute ago"), (11100, "3 hours, 5 minutes ago")],
)
def test_relative_times_say_just_now_under_a_minute(seconds: int, said: str) -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=seconds), now).replace("\xa0", " ") == said  # timesince keeps "3 hours" whole


def test_dashboard_says_just_now_for_a_fresh_heartbeat_never_0_minutes(staff_client: Client) -> None:
    Heartbeat.objects.create(name="worker", last_seen=timezone.now())
    Listener.objects.create(name="l", protocol="smtps", port=465, last_verified_at=timezone.now() - timedelta(hours=2))
    html = staff_client.get("/").content.decode()
    assert "last heartbeat just now" in html and "0\xa0minutes" not in html and "0 minutes" not in html
    assert "last probe 2\xa0hours ago" in html


@pytest.mark.parametrize("certificates", [10, 60])
def test_query_count_does_not_grow_with_certificates(
    staff_client: Client, django_assert_max_num_queries: Any, certificates: int
) -> None:
    """With every part of the page busy (failures of each kind, an undelivered email, no sweep yet, certificates to
    re-issue at a CA): ≤ 17, one of them the admin's "expiring" threshold (repository/policy.py), read once for the
    counts, timeline and lights."""
    many(certificates)
    listeners(certificates // 5)
    _failures()
    staff_client.get("/")  # session and user cached the same way on both runs
    with django_assert_max_num_queries(17):
        assert staff_client.get("/").status_code == 200


def test_read_only_users_see_the_dashboard_and_the_old_list_still_works(viewer_client: Client) -> None:
    assert viewer_client.get("/").status_code == 200
    assert viewer_client.get("/certificates/").status_code == 200
