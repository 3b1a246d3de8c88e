"""Pebble ≥ 2.7 from Debian unstable (tests/support/newer_pebble.py): how it is found, and what it offers live.

The mirror parsing is pure logic on sources files written here; the rest runs the cached binary, through the
`acme` library directly, so a failure points at the harness rather than the panel.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.newer_pebble import MIN_VERSION, machine_mirror, newer_pebble, version_tuple
from tests.support.pebble import Pebble, PebbleOptions, newer_pebble_or_skip, running_pebble
from tests.support.test_pebble import Responder, account_client, issue, responder  # noqa: F401  (a fixture)

PROFILES = {
    "classic": {"description": "90 days, as ever", "validityPeriod": 90 * 86400},
    "tlsserver": {"description": "45-day server certificates", "validityPeriod": 45 * 86400},
    "shortlived": {"description": "160 hours", "validityPeriod": 160 * 3600},
}


def test_debian_versions_compare_by_their_upstream_part() -> None:
    assert version_tuple("2.10.0+ds1-2") == (2, 10, 0)
    assert version_tuple("1:2.7.1-1") == (2, 7, 1)
    assert version_tuple("2.4.0-1+b5")[:2] < MIN_VERSION <= version_tuple("2.10.0+ds1-2")[:2]
    assert version_tuple("") == ()


def test_the_mirror_comes_from_the_machines_sources_in_either_format(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.invalid/debian sid main\n"
        "deb [signed-by=/x.gpg] http://security.invalid/debian-security bookworm-security main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    assert machine_mirror((tmp_path / "sources.list", tmp_path / "sources.list.d")) == "http://mirror.invalid/debian"


def test_no_debian_archive_in_the_sources_is_a_plain_error(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://security.invalid/debian-security bookworm-security main\n")
    with pytest.raises(RuntimeError, match="no Debian archive"):
        machine_mirror((tmp_path / "sources.list",))


def test_a_cache_with_an_old_version_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    for name in ("pebble", "pebble-challtestsrv"):
        (tmp_path / "usr/bin" / name).write_text("#!/bin/sh\n")
        (tmp_path / "usr/bin" / name).chmod(0o755)
    (tmp_path / "VERSION").write_text("2.4.0-1\n")
    assert newer_pebble(tmp_path) is None
    (tmp_path / "VERSION").write_text("2.10.0+ds1-2\n")
    found = newer_pebble(tmp_path)
    assert found is not None and found.version == "2.10.0+ds1-2"


@pytest.fixture(scope="module")
def pebble(responder: Responder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:  # noqa: F811
    newer_pebble_or_skip()
    options = PebbleOptions(http_port=responder.port, newer=True, profiles=PROFILES)
    with running_pebble(tmp_path_factory.mktemp("newer-pebble"), options) as started:
        yield started


@pytest.mark.integration
def test_the_directory_offers_ari_and_its_profiles(pebble: Pebble) -> None:
    directory = requests.get(pebble.directory_url, verify=str(pebble.ca_bundle_path), timeout=5).json()
    assert "renewalInfo" in directory
    assert directory["meta"]["profiles"] == {name: p["description"] for name, p in PROFILES.items()}


@pytest.mark.integration
def test_a_profile_decides_the_lifetime_and_ari_answers_what_the_management_api_set(
    pebble: Pebble,
    responder: Responder,  # noqa: F811
) -> None:
    acme = account_client(pebble)
    leaf = issue(acme, responder, ["short.example.test"], profile="shortlived")[0]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(hours=159) < lifetime <= timedelta(hours=160)

    base = acme.directory["renewalInfo"].rstrip("/")
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    serial = leaf.serial_number.to_bytes((leaf.serial_number.bit_length() + 8) // 8, "big")
    cert_id = f"{_b64(aki)}.{_b64(serial)}"
    before = requests.get(f"{base}/{cert_id}", verify=str(pebble.ca_bundle_path), timeout=5)
    assert before.status_code == 200 and "suggestedWindow" in before.json()

    past = datetime.now(UTC) - timedelta(days=1)
    window = {"start": past.isoformat().replace("+00:00", "Z"), "end": (past + timedelta(hours=1)).isoformat()}
    window["end"] = window["end"].replace("+00:00", "Z")
    pebble.set_renewal_info(leaf.public_bytes(serialization.Encoding.PEM).decode(), window)
    after = requests.get(f"{base}/{cert_id}", verify=str(pebble.ca_bundle_path), timeout=5)
    assert json.loads(after.text)["suggestedWindow"] == window


def _b64(data: bytes | None) -> str:
    return base64.urlsafe_b64encode(data or b"").decode().rstrip("=")
