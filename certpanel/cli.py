"""Base for certpanel's management commands: `error: …` on stderr and an exit code, never a traceback."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, handle_default_options
from django.db import connections

from certpanel.audit.origin import acting_as
from certpanel.errors import PanelError
from certpanel.files import write_atomically


class AdminCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            # What the audit log names as the actor of everything the command does (no user logs in to a shell).
            with acting_as(f"cli:{self.__module__.rsplit('.', 1)[-1]}"):
                return super().execute(*args, **options)
        except PanelError as exc:
            raise CommandError(str(exc)) from exc

    def run_from_argv(self, argv: list[str]) -> None:
        self._called_from_command_line = True
        parser = self.create_parser(argv[0], argv[1])
        options = parser.parse_args(argv[2:])
        cmd_options = vars(options)
        args = cmd_options.pop("args", ())
        handle_default_options(options)
        try:
            self.execute(*args, **cmd_options)
        except CommandError as exc:
            self.stderr.write(f"error: {exc}")
            sys.exit(exc.returncode)
        except KeyboardInterrupt:
            self.stderr.write("error: interrupted")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the admin gets one line; a file gets the details
            where = _record_traceback(argv[1])
            self.stderr.write(f"error: unexpected failure ({type(exc).__name__}: {exc}); details in {where}")
            sys.exit(1)
        finally:
            connections.close_all()

    def print_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str))

    def warn(self, message: str) -> None:
        self.stderr.write(f"warning: {message}")


def _record_traceback(command: str) -> Path:
    """Tracebacks go to a file, not the terminal: scripts parse stderr's one line."""
    path = Path(settings.DATA_DIR) / "cli-errors.log"
    # 0600 from its first byte: a traceback can show values the data dir keeps private.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with open(fd, "a", encoding="utf-8") as handle:
        handle.write(f"--- {command} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n{traceback.format_exc()}\n")
    return path


def read_input(path: str, *, label: str = "file") -> bytes:
    limit = settings.CERTPANEL_MAX_UPLOAD_BYTES
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise CommandError(f"cannot read {label} {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise CommandError(f"{label} {path} is larger than {limit // 1024} KB")
    if not data:
        raise CommandError(f"{label} {path} is empty")
    return data


def read_secret(path: str | None, *, label: str = "passphrase file") -> bytes | None:
    """A passphrase from a file (never from argv, which `ps` shows); one trailing newline is dropped."""
    if not path:
        return None
    data = read_input(path, label=label)
    return data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data


def write_output(path: str, content: bytes, *, secret: bool) -> None:
    """Write atomically (temp file, fsync, rename); secrets are 0600 from the first byte."""
    if path == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise CommandError(f"{path} is a directory")
    try:
        write_atomically(target, content, mode=0o600 if secret else 0o644)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
