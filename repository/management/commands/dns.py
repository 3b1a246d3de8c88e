"""`manage.py dns …`: DNS providers (RFC 2136) from the shell (README "DNS providers").

    dns add-rfc2136 --zone Z --server HOST[:PORT] --tsig-name N [--tsig-algorithm A] --tsig-secret-file F|-
    dns list [--json]
    dns test ZONE [--timeout SECONDS]
    dns delete ZONE

The secret is read from a file or stdin (``-``), never from the command line (``ps`` shows arguments to everyone).
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from certpanel.cli import AdminCommand, read_input
from repository.dns.checks import TEST_SECONDS, dns_provider_test
from repository.dns.names import TSIG_ALGORITHMS
from repository.dns.providers import dns_provider_create, dns_provider_delete, dns_provider_get, dns_providers
from repository.dns.records import dns_records_remove_for_provider

SECRET_LIMIT = 4096


def _read_secret(path: str) -> str:
    if path == "-":
        data = sys.stdin.buffer.read(SECRET_LIMIT + 1)
        if len(data) > SECRET_LIMIT:
            raise CommandError("the TSIG secret on stdin is longer than 4 KB")
    else:
        data = read_input(path, label="TSIG secret file")
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CommandError("the TSIG secret must be base64 text") from None
    # A BIND key file (`tsig-keygen` output) holds the secret in quotes: take the quoted part.
    if 'secret "' in text:
        text = text.split('secret "', 1)[1].split('"', 1)[0]
    if not text:
        raise CommandError("the TSIG secret is empty")
    return text


class Command(AdminCommand):
    help = "Add, list, test and delete DNS providers (zones the panel changes by RFC 2136 for DNS-01)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        p = sub.add_parser("add-rfc2136", help="Add a zone updated by RFC 2136 with a TSIG key (checked first).")
        p.add_argument("--zone", required=True)
        p.add_argument("--server", required=True, help="HOST[:PORT] of the primary that takes updates.")
        p.add_argument("--tsig-name", required=True)
        p.add_argument("--tsig-algorithm", default="hmac-sha256", choices=TSIG_ALGORITHMS)
        p.add_argument("--tsig-secret-file", required=True, help="File holding the base64 secret; - for stdin.")
        p.add_argument("--note", default="")
        p = sub.add_parser("list", help="List DNS providers (never their secrets).")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("test", help="Add a test TXT record, wait for every nameserver, remove it.")
        p.add_argument("zone")
        p.add_argument("--timeout", type=float, default=TEST_SECONDS, help="Seconds to wait for the nameservers.")
        p = sub.add_parser("delete", help="Remove the provider's live records from DNS, then delete it.")
        p.add_argument("zone")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action'].replace('-', '_')}")(options)

    def do_add_rfc2136(self, options: dict[str, Any]) -> None:
        provider = dns_provider_create(
            zone=options["zone"],
            server=options["server"],
            tsig_name=options["tsig_name"],
            tsig_algorithm=options["tsig_algorithm"],
            tsig_secret=_read_secret(options["tsig_secret_file"]),
            note=options["note"],
        )
        self.stdout.write(f"Added DNS provider for {provider.zone}: {provider.server_label} serves the zone.")

    def do_list(self, options: dict[str, Any]) -> None:
        rows = [
            {
                "zone": p.zone,
                "server": p.server_label,
                "tsig_name": p.tsig_name,
                "tsig_algorithm": p.tsig_algorithm,
                "note": p.note,
            }
            for p in dns_providers()
        ]
        if options["json"]:
            self.print_json(rows)
            return
        line = "{:<32} {:<28} {}"
        self.stdout.write(line.format("ZONE", "SERVER", "TSIG KEY"))
        for row in rows:
            self.stdout.write(line.format(row["zone"], row["server"], f"{row['tsig_name']} ({row['tsig_algorithm']})"))

    def do_test(self, options: dict[str, Any]) -> None:
        provider = dns_provider_get(options["zone"])
        test = dns_provider_test(provider, seconds=options["timeout"], progress=lambda line: self.stderr.write(line))
        for answer in test.answers:
            self.stdout.write(answer.describe(test.value))
        if not test.ok:
            raise CommandError(test.error)
        self.stdout.write(f"OK: every nameserver of {provider.zone} served the test record; it was removed.")

    def do_delete(self, options: dict[str, Any]) -> None:
        provider = dns_provider_get(options["zone"])
        cleanup = dns_records_remove_for_provider(provider)
        zone = dns_provider_delete(provider=provider)
        for failure in cleanup.failed:
            self.warn(f"left in DNS (remove it by hand): {failure}")
        self.stdout.write(f"Deleted the DNS provider for {zone}.")
