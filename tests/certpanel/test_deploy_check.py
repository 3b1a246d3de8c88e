"""`check --deploy` is clean under the documented production settings; HTTPS settings do what they say."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
# README "Security": a panel behind a TLS reverse proxy at https://panel.example.com.
PRODUCTION = {
    "CERTPANEL_SECRET_KEY": secrets.token_urlsafe(48),
    "CERTPANEL_HOSTNAME": "mail.example.com",
    "CERTPANEL_ALLOWED_HOSTS": "panel.example.com",
    "CERTPANEL_CSRF_TRUSTED_ORIGINS": "https://panel.example.com",
    "CERTPANEL_BEHIND_PROXY": "true",
    "CERTPANEL_SSL_REDIRECT": "true",
    "CERTPANEL_HSTS_SECONDS": "31536000",
}


def _manage(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    # Nothing of this test run's own settings; DJANGO_ALLOW_ASYNC_UNSAFE (set by the browser tests) would be async.E001.
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(("CERTPANEL_", "DJANGO_"))}
    env = {**inherited, "DJANGO_SETTINGS_MODULE": "certpanel.settings"}
    env.update({"CERTPANEL_DATA_DIR": str(tmp_path / "data"), **settings})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if "(security." in line or "(axes." in line or ": (" in line]


def test_check_deploy_reports_no_warning_under_the_documented_production_settings(tmp_path: Path) -> None:
    done = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    output = done.stdout + done.stderr
    print(f"\ncheck --deploy under the production settings: {len(_warnings(output))} warnings")
    assert done.returncode == 0 and "no issues" in output, output
    assert not _warnings(output)


def test_check_deploy_names_what_is_missing_without_the_https_settings(tmp_path: Path) -> None:
    """What the review found (commit 05195da): the variables documented then, no HSTS, no SSL redirect."""
    settings = {k: v for k, v in PRODUCTION.items() if k not in ("CERTPANEL_SSL_REDIRECT", "CERTPANEL_HSTS_SECONDS")}
    settings["CERTPANEL_SECURE_COOKIES"] = "true"  # CERTPANEL_SSL_REDIRECT now implies it
    done = _manage(tmp_path, "check", "--deploy", **settings)
    found = _warnings(done.stdout + done.stderr)
    assert sorted(line.split("(")[1].split(")")[0] for line in found) == ["security.W004", "security.W008"]


def test_a_wildcard_host_list_stops_the_start_with_a_message_outside_debug(tmp_path: Path) -> None:
    done = _manage(tmp_path, "check", CERTPANEL_ALLOWED_HOSTS="*", CERTPANEL_HOSTNAME="mail.example.com")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "CERTPANEL_ALLOWED_HOSTS=* would let the panel answer to any host name" in done.stderr
    lab = _manage(tmp_path, "check", CERTPANEL_ALLOWED_HOSTS="*", CERTPANEL_DEBUG="true")
    assert lab.returncode == 0, lab.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CERTPANEL_SESSION_IDLE_MINUTES", "0", "must be at least 1"),
        ("CERTPANEL_HSTS_SECONDS", "a year", "must be a whole number"),
        ("CERTPANEL_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example", "must be IP addresses or networks"),
    ],
)
def test_bad_security_settings_stop_the_start_with_a_message(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    done = _manage(tmp_path, "check", CERTPANEL_HOSTNAME="mail.example.com", **{name: value})
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.django_db
def test_ssl_redirect_sends_plain_http_to_https_but_lets_health_probes_through(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/login/"
    assert client.get("/health/").status_code == 200


@pytest.mark.django_db
def test_hsts_is_sent_over_https_when_configured(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "Strict-Transport-Security" not in client.get("/login/")  # never over plain HTTP


@pytest.mark.django_db
def test_behind_a_proxy_the_forwarded_scheme_counts_as_https(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    assert client.get("/login/", HTTP_X_FORWARDED_PROTO="http").status_code == 301
