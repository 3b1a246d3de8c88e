"""The backup file's shape: one readable header line, then the body sealed under the key-encryption key.

    {"format": "certpanel-backup", "format_version": 1, "kek_id": "…", "created_at": "…", "counts": {…}, …}\\n
    <12-byte nonce><AES-256-GCM of the gzip'd JSON rows; the header line is its associated data>

`head -1 FILE` tells what a backup holds and which key-encryption key it needs, without that key; changing a byte
anywhere (the header included) makes the restore refuse it. Every size is bounded before anything is decoded: the
file, the header line, the inflated body. No database and no key here: certpanel/backup.py fills the file,
repository/keystore.py seals it.
"""

from __future__ import annotations

import json
import re
import tomllib
import zlib
from pathlib import Path
from typing import Any

from certpanel.errors import PanelError

FORMAT = "certpanel-backup"
FORMAT_VERSION = 1
HEADER_LIMIT = 64 * 1024
_HEX_ID = re.compile(r"[0-9a-f]{16}")


class BackupError(PanelError):
    """A backup cannot be made or restored; nothing was written."""


def panel_version() -> str:
    try:
        project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text("utf-8"))
        return str(project["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def header_line(header: dict[str, Any]) -> bytes:
    line = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    if len(line) > HEADER_LIMIT:
        raise BackupError("The backup's header is too large.")
    return line


def split(data: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """The header (checked), its exact line (the body's associated data) and the sealed body."""
    end = data.find(b"\n", 0, HEADER_LIMIT + 1)
    if end < 0:
        raise BackupError("This is not a certpanel backup (no header line).")
    line, body = data[:end], data[end + 1 :]
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        raise BackupError("This is not a certpanel backup (its header is not JSON).") from None
    _check_header(header)
    if len(body) != header["body_bytes"]:
        what = "truncated" if len(body) < header["body_bytes"] else "followed by extra data"
        raise BackupError(f"The backup file is {what}: its body is {len(body)} bytes, not {header['body_bytes']}.")
    return header, line, body


def _check_header(header: Any) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError("This is not a certpanel backup (no certpanel-backup header).")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(
            f"This backup has format version {version!r}, which this panel ({panel_version()}) cannot read: "
            "restore it with the panel version that made it."
        )
    types = {"kek_id": str, "created_at": str, "panel_version": str, "counts": dict, "migrations": dict}
    wrong = [name for name, kind in types.items() if not isinstance(header.get(name), kind)]
    if wrong or not isinstance(header.get("body_bytes"), int) or not _HEX_ID.fullmatch(header["kek_id"]):
        raise BackupError(f"The backup's header is damaged ({', '.join(wrong) or 'kek_id or body_bytes'}).")
    if not all(isinstance(n, int) for n in header["counts"].values()) or not all(
        isinstance(names, list) and all(isinstance(name, str) for name in names)
        for names in header["migrations"].values()
    ):
        raise BackupError("The backup's header is damaged (counts or migrations).")


def compress(body: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip container
    return packer.compress(body) + packer.flush()


def decompress(data: bytes, *, limit: int) -> bytes:
    """Inflate at most ``limit`` bytes: a body that inflates to more is refused before it fills the memory."""
    unpacker = zlib.decompressobj(31)
    try:
        body = unpacker.decompress(data, limit + 1)
    except zlib.error:
        raise BackupError("The backup's body is damaged (not gzip).") from None
    if len(body) > limit or unpacker.unconsumed_tail:
        raise BackupError(f"The backup's body inflates to more than {limit} bytes (CERTPANEL_BACKUP_MAX_BYTES).")
    if not unpacker.eof:
        raise BackupError("The backup's body is damaged (its gzip stream ends early).")
    return body


def read_bounded(path: str, *, limit: int) -> bytes:
    """The file at ``path`` whole, or BackupError when it is missing or larger than ``limit``."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise BackupError(f"Cannot read {path}: {exc.strerror}.") from None
    if len(data) > limit:
        raise BackupError(f"{path} is larger than {limit} bytes (CERTPANEL_BACKUP_MAX_BYTES).")
    return data
