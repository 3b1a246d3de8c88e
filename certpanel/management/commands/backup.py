"""`manage.py backup --out FILE`: the whole panel in one file, keys still sealed (certpanel/backup.py)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from certpanel.backup import backup_create, counts_in_words
from certpanel.cli import AdminCommand, write_output


class Command(AdminCommand):
    help = "Write a backup of the panel (certificates, sealed keys, accounts, listeners, users, history) to FILE."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--out", required=True, help="Where to write the backup (mode 0600); - for stdout.")
        parser.add_argument("--json", action="store_true", help="Print the backup's header as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        data, header = backup_create()
        write_output(options["out"], data, secret=True)
        report = self.stderr if options["out"] == "-" else self.stdout
        if options["json"]:
            if options["out"] != "-":
                self.print_json(header)
            return
        report.write(
            f"backup written to {options['out']} ({len(data)} bytes): {counts_in_words(header['counts'])}. "
            f"Restoring it needs key-encryption key {header['kek_id']}: keep that key apart from the backup."
        )
