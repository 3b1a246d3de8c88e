"""The services pages an admin works in (issue 10): the grouped list, the guard rails of "Select from
repository", replacing a certificate on many listeners in one step, removing a listener, and POST-only URLs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from repository import actions as repository_actions
from repository.models import Certificate
from services.models import Deployment, Listener, SniCertificate
from tests.support.factories import CA, ec_key, key_pem, pem


def _issued(ca: CA, names: list[str], *, days: int = 90, starts: timedelta = timedelta(days=-1)) -> Certificate:
    key = ec_key()
    cert = ca.issue(key.public_key(), names, days=days, not_before=datetime.now(UTC) + starts)
    return repository_actions.certificate_import(certificate_data=pem(cert), key_data=key_pem(key)).certificate


def _text(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))


def test_the_list_groups_listeners_like_the_secure_ports_table_and_names_the_tls_mode(staff_client: Client) -> None:
    for name, protocol, port in [
        ("LDAPS", "ldaps", 636),
        ("FTP", "ftp", 21),
        ("Webmail HTTPS", "https", 443),
        ("FTPS", "ftps", 990),
        ("IMAPS", "imaps", 993),
        ("SMTP", "smtp", 25),
    ]:
        Listener.objects.create(name=name, protocol=protocol, port=port)
    page = staff_client.get("/services/").content.decode()
    groups = re.findall(r'<h2 id="group-[a-z]+">(\w+)</h2>', page)
    assert groups == ["Mail", "Webmail", "FTP", "LDAP"]
    mail = page[page.index('data-group="Mail"') : page.index('data-group="Webmail"')]
    assert mail.index(">SMTP<") < mail.index(">IMAPS<")
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r'<tr id="listener-\d+">.*?>([\w ]+)</a>(.*?)</tr>', page, re.S)
    }
    assert "STARTTLS" in rows["FTP"] and "implicit TLS" in rows["FTPS"] and "STARTTLS" in rows["SMTP"]


def test_days_left_badges_last_deployment_and_one_reason(staff_client: Client, ca: CA) -> None:
    expired = _issued(ca, ["ftp.example.com"], days=30, starts=timedelta(days=-40))
    soon = _issued(ca, ["ftps.example.com"], days=20, starts=timedelta(days=-10, hours=-1))
    ftp = Listener.objects.create(name="FTP", protocol="ftp", port=21, certificate=expired)
    ftps = Listener.objects.create(name="FTPS", protocol="ftps", port=990, certificate=soon)
    ftps.last_verify_ok, ftps.last_verified_at = False, datetime.now(UTC)
    ftps.last_report = [
        {
            "server_name": "ftps.example.com",
            "port": 990,
            "ok": False,
            "served_fingerprint_sha256": "",
            "hostname_ok": False,
            "chain_ok": False,
            "error": "connection refused",
        }
    ]
    ftps.save()
    Deployment.objects.create(listener=ftp, certificate=expired, status="rolled_back", trigger="manual")
    page = staff_client.get("/services/").content.decode()
    ftp_row = page[page.index(f'id="listener-{ftp.pk}"') : page.index(f'id="listener-{ftps.pk}"')]
    ftps_row = page[page.index(f'id="listener-{ftps.pk}"') :]
    assert 'badge expired days">expired 10 days ago' in ftp_row and "Rolled back" in ftp_row
    assert "the certificate expired 10 days ago" in ftp_row
    assert 'badge expiring days">9 days left' in ftps_row
    reason = re.search(r'class="small reason">([^<]*)<', ftps_row)
    assert reason and reason.group(1) == "unreachable: ftps.example.com on port 990 — connection refused"
    assert "INCOMPLETE" not in staff_client.get(f"/services/{ftps.pk}/").content.decode(), "one cause, one cell"


def test_select_refuses_an_expired_certificate_and_marks_the_current_one(staff_client: Client, ca: CA) -> None:
    current = _issued(ca, ["mail.example.com"])
    expired = _issued(ca, ["mail.example.com"], days=30, starts=timedelta(days=-40))
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot", certificate=current)
    listing = staff_client.get(f"/services/{listener.pk}/select/").content.decode()
    assert f'href="?certificate={expired.pk}"' not in listing and "not selectable: expired on" in listing
    assert '<tr class="current">' in listing and "in use here" in listing
    chosen = staff_client.get(f"/services/{listener.pk}/select/?certificate={expired.pk}").content.decode()
    assert "cannot be used: expired on" in chosen and '<button class="primary">Save' not in chosen
    refused = staff_client.post(f"/services/{listener.pk}/select/", {"certificate": expired.pk, "confirm": "on"})
    assert refused.status_code == 200 and "clients would refuse it" in refused.content.decode()
    listener.refresh_from_db()
    assert listener.certificate_id == current.pk and not Deployment.objects.exists()


def test_select_a_name_mismatch_needs_confirmation_that_says_save_deploys_and_reloads(
    staff_client: Client, ca: CA
) -> None:
    other = _issued(ca, ["other.example.com"])
    later = _issued(ca, ["mail.example.com"], starts=timedelta(days=2))
    listener = Listener.objects.create(
        name="IMAPS", protocol="imaps", port=993, daemon="dovecot", server_name="mail.example.com"
    )
    page = _text(staff_client.get(f"/services/{listener.pk}/select/?certificate={other.pk}").content)
    assert "does not cover mail.example.com" in page
    assert "Save deploys the certificate to IMAPS and reloads the daemon (Dovecot)" in page
    unconfirmed = staff_client.post(f"/services/{listener.pk}/select/", {"certificate": other.pk})
    assert "Tick to confirm" in unconfirmed.content.decode()
    assert not Deployment.objects.exists()
    sni = staff_client.post(f"/services/{listener.pk}/select/", {"certificate": later.pk, "sni_name": "x.example"})
    assert "not valid before" in sni.content.decode() and "does not cover x.example" in sni.content.decode()
    done = staff_client.post(f"/services/{listener.pk}/select/", {"certificate": other.pk, "confirm": "on"})
    assert done.status_code == 302
    listener.refresh_from_db()
    assert listener.certificate_id == other.pk and Deployment.objects.get().trigger == "assigned"


def test_replace_on_all_moves_five_listeners_and_queues_a_deployment_then_a_verification_each(
    staff_client: Client, ca: CA, django_capture_on_commit_callbacks: Any
) -> None:
    old, new = _issued(ca, ["mail.example.com"]), _issued(ca, ["mail.example.com", "*.example.com"])
    listeners = [
        Listener.objects.create(name=f"L{i}", protocol="imaps", port=2000 + i, certificate=old) for i in range(4)
    ]
    keep = Listener.objects.create(name="Keep", protocol="imaps", port=3000, certificate=new)
    SniCertificate.objects.create(listener=keep, server_name="mail.example.com", certificate=old)
    Listener.objects.create(name="Elsewhere", protocol="imaps", port=3001)
    page = staff_client.get(f"/services/replace/?from={old.pk}").content.decode()
    assert page.count('name="targets"') == 5 and page.count(" checked>") == 5
    assert f'value="{old.pk}" id="new-{old.pk}" disabled' in page, "the certificate being replaced is not offered"
    targets = re.findall(r'name="targets" value="([^"]+)"', page)
    with django_capture_on_commit_callbacks() as sent:
        response = staff_client.post(f"/services/replace/?from={old.pk}", {"certificate": new.pk, "targets": targets})
    assert response.status_code == 302 and response["Location"].startswith("/services/replace/progress/?d=")
    assert not Listener.objects.filter(certificate=old).exists() and not SniCertificate.objects.filter(certificate=old)
    deployments = Deployment.objects.filter(trigger="replaced")
    assert sorted(d.listener_id for d in deployments) == sorted([*(item.pk for item in listeners), keep.pk])
    assert len(sent) == 5, "one chain per listener: its deployment, then its verification"
    assert Listener.objects.exclude(verify_queued_at=None).count() == 5
    progress = staff_client.get(response["Location"])
    assert progress.content.decode().count("Queued…") >= 5 and 'hx-trigger="every 2s"' in progress.content.decode()


def test_use_it_on_services_ticks_the_listeners_whose_names_it_covers(staff_client: Client, ca: CA) -> None:
    fresh = _issued(ca, ["mail.example.com"])
    Listener.objects.create(name="Other", protocol="ldaps", port=636, server_name="ldap.example.org")
    Listener.objects.create(name="IMAPS", protocol="imaps", port=993, server_name="mail.example.com")
    page = staff_client.get(f"/services/replace/?certificate={fresh.pk}").content.decode()
    assert page.index("IMAPS</label>") < page.index("Other</label>")
    assert page.count(" checked>") == 1
    refused = staff_client.post(f"/services/replace/?certificate={fresh.pk}", {"certificate": fresh.pk})
    assert "Tick at least one service" in refused.content.decode()


def test_remove_listener_asks_first_and_post_only_urls_redirect_on_get(staff_client: Client) -> None:
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993)
    asked = staff_client.get(f"/services/{listener.pk}/delete/")
    assert asked.status_code == 200 and "Remove IMAPS?" in asked.content.decode()
    assert "files already written for the daemon" in asked.content.decode()
    assert Listener.objects.filter(pk=listener.pk).exists()
    for url in ("deploy", "verify", "sni/remove"):
        response = staff_client.get(f"/services/{listener.pk}/{url}/")
        assert (response.status_code, response["Location"]) == (302, f"/services/{listener.pk}/"), url
    assert staff_client.get("/services/verify/")["Location"] == "/services/"
    assert not Deployment.objects.exists()
    staff_client.post(f"/services/{listener.pk}/delete/")
    assert not Listener.objects.filter(pk=listener.pk).exists()


@pytest.mark.parametrize("partial", ["/services/", "detail"])
def test_htmx_polls_get_the_live_part_only(staff_client: Client, partial: str) -> None:
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993)
    url = f"/services/{listener.pk}/" if partial == "detail" else partial
    body = staff_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in body and "every 2s" not in body, "idle: the poll stops"


def test_an_sni_name_that_is_no_hostname_is_said_so_before_any_name_check(staff_client: Client, ca: CA) -> None:
    entry = _issued(ca, ["mail.example.com"])
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, certificate=entry)
    response = staff_client.post(f"/services/{listener.pk}/select/", {"certificate": entry.pk, "sni_name": "bad host"})
    page = response.content.decode()
    assert response.status_code == 200 and "is not a valid hostname" in page and "Tick to confirm" not in page
    assert not SniCertificate.objects.exists() and not Deployment.objects.exists()
