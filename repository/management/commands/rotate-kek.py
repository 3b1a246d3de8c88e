"""`manage.py rotate-kek --new-key-file F`: every stored key re-sealed under a new key-encryption key.

Safe to kill at any point and run again with the same file (repository/kek_rotation.py says why).
"""

from __future__ import annotations

import os
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from certpanel.cli import AdminCommand, read_input
from repository.kek_rotation import kek_rotate
from repository.keystore import decode_kek, kek_from_environment, kek_path, next_kek_path


class Command(AdminCommand):
    help = "Re-encrypt every stored private key under a new key-encryption key (run again to resume)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--new-key-file",
            required=True,
            help="The new key, 32 bytes in base64 (openssl rand -base64 32); - reads it from stdin.",
        )
        parser.add_argument("--batch-size", type=int, default=100, help="Keys re-sealed per transaction.")
        parser.add_argument("--pause", type=float, default=0.0, help="Seconds to wait between batches (busy panels).")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1 or options["pause"] < 0:
            raise CommandError("--batch-size must be at least 1 and --pause at least 0")
        path = options["new_key_file"]
        data = sys.stdin.buffer.read(4096) if path == "-" else read_input(path, label="new key file")
        new_kek = decode_kek(data.decode("utf-8", "replace"), source=f"the new key file ({path})")
        progress = self.stderr.write if options["json"] else self.stdout.write
        done = kek_rotate(new_kek, batch_size=options["batch_size"], pause=options["pause"], progress=progress)
        if options["json"]:
            self.print_json(
                {"kek_id": done.new_kek_id, "keys": done.keys, "resealed": done.resealed, "finished": done.finished}
            )
        elif done.finished:
            self.stdout.write(
                f"done: every key ({done.keys}) is sealed under key-encryption key {done.new_kek_id}, which the panel "
                f"now uses{'' if kek_from_environment() else f' ({kek_path()})'}. Backups made before now need the "
                "old key: keep it with them, or make a new backup."
            )
        else:
            self.stdout.write(
                f"every key ({done.keys}) is sealed under key-encryption key {done.new_kek_id}. To finish: put the new "
                f"key in {_environment_source()}, restart web, worker and beat, and run this command again. Until "
                f"then the panel keeps the new key in {next_kek_path()} and works with either."
            )


def _environment_source() -> str:
    """Where this process got its KEK from the environment (certpanel/env.py's env_secret reads the value first)."""
    name = "CERTPANEL_KEY_ENCRYPTION_KEY_FILE"
    if os.environ.get("CERTPANEL_KEY_ENCRYPTION_KEY") or not os.environ.get(name):
        return "CERTPANEL_KEY_ENCRYPTION_KEY"
    return f"the file {name} names ({os.environ[name]})"
