"""`manage.py dns`: add from a secret file or stdin, list without secrets, test against every nameserver, delete;
one-line errors and exit codes."""

from __future__ import annotations

import io
import sys

import pytest

from repository.models import DnsProvider
from tests.repository.dns.conftest import DnsWorld
from tests.support.pebble import free_port


def add_args(dns_world: DnsWorld, zone: str, secret_file: str, **changes: str) -> list[str]:
    options = {
        "--zone": zone,
        "--server": dns_world.primary.server,
        "--tsig-name": dns_world.key.name,
        "--tsig-algorithm": dns_world.key.algorithm,
        "--tsig-secret-file": secret_file,
        **changes,
    }
    return ["dns", "add-rfc2136", *[part for pair in options.items() for part in pair]]


def test_add_list_test_delete(cli, dns_world: DnsWorld, write_file) -> None:
    # A BIND key file, as `tsig-keygen` writes it, works as the secret file.
    key = dns_world.key
    text = f'key "{key.name}" {{\n\talgorithm {key.algorithm};\n\tsecret "{key.secret}";\n}};\n'
    key_file = write_file("key.conf", text.encode())
    result = cli(*add_args(dns_world, "multi.test", key_file))
    assert result.code == 0, result.err
    assert f"Added DNS provider for multi.test: {dns_world.primary.server} serves the zone." in result.out

    result = cli("dns", "list")
    assert result.code == 0 and "multi.test" in result.out and dns_world.key.secret not in result.out

    result = cli("dns", "test", "multi.test", "--timeout", "10")
    assert result.code == 0, result.err
    assert "ns1.multi.test (127.0.0.1 port" in result.out and "ns2.multi.test (127.0.0.2 port" in result.out
    assert result.out.count(": serves it") == 2 and "OK: every nameserver of multi.test" in result.out
    assert "2 of 2 nameservers serve the record" in result.err

    result = cli("dns", "delete", "multi.test")
    assert result.code == 0 and not DnsProvider.objects.exists()


def test_the_secret_can_come_from_stdin(cli, dns_world: DnsWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(dns_world.key.secret.encode() + b"\n")))
    result = cli(*add_args(dns_world, "example.test", "-"))
    assert result.code == 0, result.err
    assert DnsProvider.objects.get().zone == "example.test"


def test_a_test_that_times_out_fails_with_exit_code_1(cli, dns_world: DnsWorld, write_file) -> None:
    assert cli(*add_args(dns_world, "stale.test", write_file("s", dns_world.key.secret.encode()))).code == 0
    result = cli("dns", "test", "stale.test", "--timeout", "1")
    assert result.code == 1 and "Traceback" not in result.err
    assert result.error_line.startswith("error: After 1 s, 1 of 2 nameservers serve the record")
    assert "ns3.stale.test (127.0.0.3 port" in result.error_line
    assert "ns3.stale.test" in result.out and "does not serve it yet" in result.out


def test_errors_are_one_line_with_exit_code_1_and_nothing_is_saved(cli, dns_world: DnsWorld, write_file) -> None:
    # One test for every case: each test that runs a command costs a database flush (transactional_db).
    secret = write_file("secret", dns_world.key.secret.encode())
    cases = [
        ({"--zone": "nothere.test"}, "is not authoritative for zone nothere.test"),
        ({"--tsig-name": "someone-else"}, "refused the TSIG key 'someone-else': wrong secret or algorithm"),
        ({"--server": "127.0.0.1:0"}, "is not a DNS server"),
        ({"--server": f"127.0.0.1:{free_port()}"}, "refused the connection"),
        ({"--tsig-secret-file": "/nonexistent/secret"}, "cannot read TSIG secret file /nonexistent/secret"),
        ({"--tsig-secret-file": write_file("bad", b"this is not base64!\n")}, "The TSIG secret must be base64"),
    ]
    for changes, message in cases:
        result = cli(*add_args(dns_world, "example.test", secret, **changes))
        assert result.code == 1 and message in result.error_line, (changes, result.err)
        assert result.err.count("\n") == 1 and "Traceback" not in result.err
    result = cli("dns", "test", "nope.test")
    assert result.code == 1 and "There is no DNS provider for zone nope.test" in result.error_line
    assert not DnsProvider.objects.exists()
