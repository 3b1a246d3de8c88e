"""The one-phrase judgements of the services pages (services/health.py, services/protocols.py): pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.health import days_badge, deployment_outcome, failed_output, fitness, one_reason
from services.protocols import BY_CODE, GROUPS, PROTOCOLS

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
GOOD = {
    "server_name": "mail.example.com",
    "host": "127.0.0.1",
    "port": 993,
    "ok": True,
    "served_fingerprint_sha256": "ab",
    "matches_expected": True,
    "hostname_ok": True,
    "chain_ok": True,
    "chain_problems": [],
    "error": "",
}


def test_every_protocol_has_a_group_in_the_order_of_the_secure_ports_table() -> None:
    assert [p.code for p in PROTOCOLS if p.group == "Mail"] == [
        "smtp",
        "submission",
        "smtps",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
    ]
    assert {p.group for p in PROTOCOLS} == set(GROUPS) == {"Mail", "Webmail", "FTP", "LDAP"}
    assert [p.code for p in PROTOCOLS if p.group == "FTP"] == ["ftp", "ftps"]


@pytest.mark.parametrize(
    ("code", "mode"),
    [
        ("smtp", "STARTTLS"),
        ("submission", "STARTTLS"),
        ("smtps", "implicit TLS"),
        ("ftp", "STARTTLS"),
        ("ftps", "implicit TLS"),
        ("https", "implicit TLS"),
        ("ldap", "STARTTLS"),
    ],
)
def test_tls_mode_is_named(code: str, mode: str) -> None:
    assert BY_CODE[code].tls_mode == mode


def test_a_failed_deployment_is_the_cause_a_different_served_certificate_the_symptom() -> None:
    different = {**GOOD, "ok": False, "matches_expected": False}
    reason = one_reason([different], certificate_days=20, failed_deployment="Rolled back: the reload failed")
    assert reason == "last deployment rolled back: the reload failed"
    assert one_reason([], certificate_days=20) == ""


def test_a_refused_connection_is_the_one_reason_and_suppresses_the_rest() -> None:
    refused = {
        **GOOD,
        "ok": False,
        "served_fingerprint_sha256": "",
        "matches_expected": None,
        "hostname_ok": False,
        "chain_ok": False,
        "error": "connection refused",
    }
    reason = one_reason([GOOD, refused], certificate_days=-3)
    assert reason == "unreachable: mail.example.com on port 993 — connection refused"
    assert "hostname" not in reason and "chain" not in reason and "expired" not in reason


@pytest.mark.parametrize(
    ("entry", "days", "expected"),
    [
        ({}, 12, ""),
        ({}, -3, "the certificate expired 2 days ago"),
        ({}, -1, "the certificate expired today"),
        ({"ok": False, "matches_expected": False, "hostname_ok": False}, 12, "serves a different certificate"),
        ({"ok": False, "hostname_ok": False}, 12, "does not cover mail.example.com"),
        ({"ok": False, "chain_ok": False, "chain_problems": ["issuer missing", "x"]}, 12, "chain: issuer missing"),
    ],
)
def test_one_reason_in_the_order_an_admin_fixes_things(entry: dict[str, object], days: int, expected: str) -> None:
    reason = one_reason([{**GOOD, **entry}], certificate_days=days)
    assert (expected in reason) if expected else reason == ""


@pytest.mark.parametrize(
    ("days", "badge"), [(None, ""), (-1, "expired"), (0, "expiring"), (30, "expiring"), (31, "valid")]
)
def test_days_badge(days: int | None, badge: str) -> None:
    assert days_badge(days) == badge


def test_fitness_refuses_expired_and_warns_on_not_yet_valid_and_uncovered_names() -> None:
    window = {"not_before": NOW - timedelta(days=1), "not_after": NOW + timedelta(days=60)}
    assert fitness(sans=["*.example.com"], common_name="", names=["mail.example.com"], now=NOW, **window).warnings == []
    expired = fitness(
        sans=["mail.example.com"],
        common_name="",
        names=[],
        now=NOW,
        not_before=NOW - timedelta(days=90),
        not_after=NOW - timedelta(days=1),
    )
    assert not expired.selectable and "expired on 2026-12-02" in expired.refused
    later = fitness(
        sans=["mail.example.com"],
        common_name="",
        names=["ftp.example.com"],
        now=NOW,
        not_before=NOW + timedelta(days=1),
        not_after=NOW + timedelta(days=90),
    )
    assert later.selectable and len(later.warnings) == 2
    assert "not valid before" in later.warnings[0] and "does not cover ftp.example.com" in later.warnings[1]
    assert (
        fitness(sans=[], common_name="mail.example.com", names=["mail.example.com"], now=NOW, **window).warnings == []
    )


DOVECONF_LOG = """12:00:01 → checking the configuration
12:00:01 check: doveconf -n
# 2.3.19 (9f4e6e3c5): /etc/dovecot/dovecot.conf
ssl = required
ssl_cert = </etc/ssl/imaps/fullchain.pem
doveconf: Fatal: Error in configuration file /etc/dovecot/conf.d/10-ssl.conf line 12: ssl_key: Can't open file
12:00:01 check failed (exit 89)
12:00:01 → rolling back: the configuration check failed"""


def test_the_cause_of_a_failed_command_comes_first() -> None:
    assert failed_output(DOVECONF_LOG).startswith("doveconf: Fatal: Error in configuration file")
    one_line = "12:00:01 check: sh -c false\n12:00:01 syntax error in ssl.conf\n12:00:01 check failed (exit 1)"
    assert failed_output(one_line) == "syntax error in ssl.conf"
    outcome = deployment_outcome(
        status="rolled_back",
        label="Rolled back",
        log=DOVECONF_LOG,
        error="the configuration check failed; previous files restored",
    )
    assert outcome.startswith("Rolled back: the configuration check failed; previous files restored — doveconf")
    assert (
        deployment_outcome(status="writing", label="Writing files", error="", log="")
        == "In progress (writing files): the page follows it."
    )
    assert deployment_outcome(status="succeeded", label="Succeeded", error="", log="").startswith("The port serves")
