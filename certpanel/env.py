"""Tiny helpers that read settings from the environment (healthchecks style)."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from certpanel.files import create_atomically


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"error: {name} must be a whole number, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise SystemExit(f"error: {name} must be at least {minimum}, not {number}")
    return number


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envpaths(name: str, default: str) -> list[str]:
    """Absolute paths separated by colons or commas (``/etc/ssl/certpanel:/etc/ssl/private``); empty: none."""
    raw = os.environ.get(name)
    paths = [item.strip() for item in re.split(r"[:,]", default if raw is None else raw) if item.strip()]
    relative = [path for path in paths if not path.startswith("/")]
    if relative:
        raise SystemExit(f"error: {name} takes absolute paths, not {', '.join(map(repr, relative))}")
    return paths


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


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def envnetworks(name: str, default: str = "") -> list[IPNetwork]:
    """Comma-separated addresses or networks (``127.0.0.1, 172.18.0.0/16, ::1``)."""
    try:
        return [ipaddress.ip_network(item, strict=False) for item in envlist(name, default)]
    except ValueError as exc:
        raise SystemExit(f"error: {name} must be IP addresses or networks separated by commas ({exc})") from None


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

    Created by a hard link (``create_atomically``), so web, worker and beat starting together agree on
    one value and never read a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        create_atomically(path, ((make or _token)() + "\n").encode("utf-8"), mode=0o600)
    return path.read_text(encoding="utf-8").strip()


def _token() -> str:
    return secrets.token_urlsafe(50)
