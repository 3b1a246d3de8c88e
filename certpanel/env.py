"""Tiny helpers that read settings from the environment (healthchecks style)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"error: {name} must be a whole number, not {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envints(name: str, default: str) -> list[int]:
    """Comma-separated positive whole numbers (``30,60,120``); at least one."""
    raw = os.environ.get(name, "").strip() or default
    try:
        values = [int(item) for item in raw.split(",") if item.strip()]
    except ValueError:
        raise SystemExit(f"error: {name} must be whole numbers separated by commas, not {raw!r}") from None
    if not values or min(values) <= 0:
        raise SystemExit(f"error: {name} must be positive whole numbers separated by commas")
    return values


def env_secret(name: str) -> str:
    """The secret from NAME, or from the file NAME_FILE points to (Docker/systemd secrets)."""
    value = os.environ.get(name, "")
    if value:
        return value
    path = os.environ.get(f"{name}_FILE", "")
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(f"error: cannot read {name}_FILE ({path}): {exc.strerror}") from None


def generated_secret(path: Path, make: Callable[[], str] | None = None) -> str:
    """Read a secret kept in the data dir, creating it (mode 0600) the first time.

    The value is written to a temp file and hard-linked into place, so web, worker and beat
    starting together agree on one value and never read a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write((make or _token)() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return path.read_text(encoding="utf-8").strip()


def _token() -> str:
    return secrets.token_urlsafe(50)
