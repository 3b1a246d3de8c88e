"""Files that appear whole: written beside their target, fsynced, then renamed (or linked) into place.

A reader sees the old file or the new one, never a half-written one, and the mode is set before the first
byte is written, so a secret is never readable by others, not even for a moment.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_new(path: Path, data: bytes, *, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Create ``path`` (it must not exist), with ``mode`` and owner set before the data, and fsync it.

    The low-level piece: a partial file is left on error, for the caller to remove.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        handle.write(data)
        handle.flush()
        os.fsync(fd)


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory (so the names created or renamed in it survive a power cut), to disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(path: Path) -> Path:
    # Same directory (a rename never crosses filesystems), hidden, and unique per writer.
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` whole with ``data``. Raises OSError; no temporary file is left behind."""
    temp = _temp_beside(path)
    try:
        write_new(temp, data, mode=mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def create_atomically(path: Path, data: bytes, *, mode: int) -> bool:
    """Create ``path`` whole with ``data`` unless it exists; never replaces it. True when this call created it.

    A hard link, not a rename, puts the file in place: when several processes start together and each writes
    its own value, the first one wins and all of them then read that one.
    """
    temp = _temp_beside(path)
    try:
        write_new(temp, data, mode=mode)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        return True
    finally:
        temp.unlink(missing_ok=True)
