"""`manage.py restore FILE`: a backup back into the panel, all or nothing (certpanel/backup.py)."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings

from certpanel.backup import backup_restore, counts_in_words
from certpanel.backup_file import BackupError, read_bounded
from certpanel.cli import AdminCommand


class Command(AdminCommand):
    help = "Restore a backup made by `manage.py backup` into an empty panel (or, with --replace, instead of it)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="The backup file; - reads stdin.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete everything the panel holds (certificates, keys, listeners, users, history) and log "
            "everyone out first, in the same transaction.",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        limit = settings.CERTPANEL_BACKUP_MAX_BYTES
        path = options["file"]
        data = sys.stdin.buffer.read(limit + 1) if path == "-" else read_bounded(path, limit=limit)
        if len(data) > limit:
            raise BackupError(f"The backup is larger than {limit} bytes (CERTPANEL_BACKUP_MAX_BYTES).")
        counts = backup_restore(data, replace=options["replace"])
        if options["json"]:
            self.print_json({"restored": counts})
        else:
            self.stdout.write(f"restored {path}: {counts_in_words(counts)}.")
