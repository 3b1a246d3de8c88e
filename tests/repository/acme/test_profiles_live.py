"""Profiles and key reuse on the real path: Pebble 2.10 with three profiles, the panel's responder, a real Celery
worker. New Certificate (web) and `certs issue` (CLI) order; the worker issues; `certs renew` and "Renew now" renew.

Skipped with the reason when the newer Pebble is not cached (tests/support/newer_pebble.py fetches it)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client

from repository.models import AcmeAccount, AcmeOrder, Certificate
from repository.pki.parse import parse_certificates
from tests.support.acme_stack import acme_stack
from tests.support.pebble import PebbleOptions, newer_pebble_or_skip
from tests.support.processes import wait_for

PROFILES = {
    "classic": {"description": "90 days, as ever", "validityPeriod": 90 * 86400},
    "tlsserver": {"description": "45-day server certificates", "validityPeriod": 45 * 86400},
    "shortlived": {"description": "160 hours", "validityPeriod": 160 * 3600},
}
pytestmark = pytest.mark.integration


def _options() -> PebbleOptions:
    newer_pebble_or_skip()
    return PebbleOptions(http_port=0, newer=True, profiles=PROFILES)


def _lifetime(entry: Certificate) -> timedelta:
    assert entry.not_after is not None and entry.not_before is not None
    return entry.not_after - entry.not_before


def _public_key(entry: Certificate) -> bytes:
    leaf = parse_certificates(entry.certificate_pem.encode())[0]
    return leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _issued(cli: Callable[..., Any], *args: str) -> Certificate:
    result = cli(*args, "--wait", "--json", "--timeout", "120")
    assert result.code == 0, result.err
    return Certificate.objects.get(pk=json.loads(result.out)["id"])


def _renewed(cli: Callable[..., Any], entry: Certificate) -> Certificate:
    return _issued(cli, "certs", "renew", "--id", str(entry.pk))


def test_the_chosen_profile_decides_the_lifetime_and_renewals_keep_it(
    cli: Callable[..., Any], staff_client: Client, tmp_path: Path
) -> None:
    with acme_stack(tmp_path, pebble=_options()) as stack:
        account = stack.account()
        assert account.profiles == {name: profile["description"] for name, profile in PROFILES.items()}
        page = html.unescape(staff_client.get("/certificates/letsencrypt/new/").content.decode())
        assert "tlsserver — 45-day server certificates" in page and "CA's default" in page

        form = {"hostnames": "web.example.com\nwww.example.com", "key_type": "ec256", "account": account.pk}
        response = staff_client.post("/certificates/letsencrypt/new/", {**form, "profile": "tlsserver"})
        assert response.status_code == 302, html.unescape(response.content.decode())
        order = AcmeOrder.objects.get()
        issued = wait_for(
            lambda: AcmeOrder.objects.filter(pk=order.pk, status__in=["issued", "failed"]).first(),
            timeout=120,
            what="the worker to issue",
            log=tmp_path / "worker.log",
        )
        assert issued.status == "issued", issued.error
        first = Certificate.objects.get(pk=issued.certificate_id)
        assert first.acme_profile == "tlsserver" and timedelta(days=44) < _lifetime(first) <= timedelta(days=45)
        assert first.common_name == "", "tlsserver: the CSR had no Common Name, and neither has the certificate"
        assert sorted(first.sans) == ["web.example.com", "www.example.com"]

        # "Renew now" on the page: the renewal orders the same profile; a new key, as the switch is off.
        response = staff_client.post(f"/certificates/{first.pk}/renew/")
        assert response.status_code == 302
        second = wait_for(
            lambda: Certificate.objects.filter(renewed_from=first).first(),
            timeout=120,
            what="the renewal",
            log=tmp_path / "worker.log",
        )
        assert AcmeOrder.objects.get(certificate=second).profile == "tlsserver"
        assert second.acme_profile == "tlsserver" and timedelta(days=44) < _lifetime(second) <= timedelta(days=45)
        assert _public_key(second) != _public_key(first) and second.key_id != first.key_id

        # The CLI, with another profile, and a renewal by `certs renew`.
        short = _issued(cli, "certs", "issue", "--domain", "short.example.com", "--profile", "shortlived")
        assert timedelta(hours=159) < _lifetime(short) <= timedelta(hours=160)
        again = _renewed(cli, short)
        assert again.acme_profile == "shortlived" and timedelta(hours=159) < _lifetime(again) <= timedelta(hours=160)
        assert "same key as" not in staff_client.get(f"/certificates/{again.pk}/").content.decode()


def test_renewal_keeps_the_private_key_when_asked_and_says_so(
    cli: Callable[..., Any], staff_client: Client, tmp_path: Path
) -> None:
    with acme_stack(tmp_path, pebble=_options()) as stack:
        stack.account()
        kept = _issued(cli, "certs", "issue", "--domain", "kept.example.com", "--reuse-key", "--profile", "classic")
        assert kept.reuse_key
        renewed = _renewed(cli, kept)
        assert _public_key(renewed) == _public_key(kept) and renewed.key_id == kept.key_id
        assert renewed.reuse_key, "the option goes on down the lineage"
        order = AcmeOrder.objects.get(certificate=renewed)
        assert order.reuse_key and f"same private key as #{kept.pk}" in order.events.last().message  # type: ignore[union-attr]
        page = staff_client.get(f"/certificates/{renewed.pk}/").content.decode()
        assert f'same key as <a href="/certificates/{kept.pk}/">#{kept.pk}</a>' in page

        # Switched off on the page: the next renewal gets a new key.
        assert staff_client.post(f"/certificates/{renewed.pk}/reuse-key/", {}).status_code == 302
        third = _renewed(cli, Certificate.objects.get(pk=renewed.pk))
        assert _public_key(third) != _public_key(renewed) and not third.reuse_key


def test_a_profile_the_ca_no_longer_offers_fails_in_plain_words_and_the_list_is_refreshed(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    with acme_stack(tmp_path, pebble=_options()) as stack:
        account = stack.account()
        # What the account stored once, before the CA dropped "retired" from its directory.
        AcmeAccount.objects.filter(pk=account.pk).update(profiles={**account.profiles, "retired": "gone now"})
        result = cli("certs", "issue", "--domain", "old.example.com", "--profile", "retired", "--wait")
        assert result.code == 1
        assert "The CA does not offer the profile 'retired' (any more): choose another profile" in result.error_line
        order = AcmeOrder.objects.get()
        assert order.status == "failed" and order.problem_type == "invalidProfile"
        assert not Certificate.objects.exists()
        account.refresh_from_db()
        assert "retired" not in account.profiles and "tlsserver" in account.profiles
        refused = cli("certs", "issue", "--domain", "old.example.com", "--profile", "retired")
        assert refused.code == 1 and "does not advertise the profile 'retired'" in refused.error_line
