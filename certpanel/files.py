"""Files that appear whole: written beside their target, fsynced, then renamed (or linked) into place.

A reader sees the old file or the new one, never a half-written one, and the mode is set before the first
byte is written, so a secret is never readable by others, not even for a moment.

Nothing here writes through a symbolic link: files are created with O_EXCL|O_NOFOLLOW, modes are changed on a
descriptor opened with O_NOFOLLOW, and directories are created one level at a time below a root, each checked
with lstat. A link planted where the panel writes makes the write fail; whatever it points to is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path


def write_new(path: Path, data: bytes, *, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Create ``path`` (it must not exist), with ``mode`` and owner set before the data, and fsync it.

    The low-level piece: a partial file is left on error, for the caller to remove.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
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


def resolve_under(path: Path, roots: Iterable[Path | str]) -> tuple[Path, Path] | None:
    """``path`` with its directory resolved (realpath) and the resolved root it lies under; None when it lies
    under none of them. The last part is not resolved: it is the name that is written, and a link there is
    refused by whoever writes (``open_regular``)."""
    if not path.is_absolute() or path.name in ("", ".", ".."):
        return None
    real = Path(os.path.realpath(path.parent)) / path.name
    for root in roots:
        real_root = Path(os.path.realpath(root))
        if real != real_root and real.is_relative_to(real_root):
            return real, real_root
    return None


def makedirs_under(directory: Path, root: Path) -> None:
    """Create the missing directories from ``root`` (which must exist) down to ``directory``, mode 0750.

    Each level is checked with lstat: a link or a file in the way raises NotADirectoryError, and nothing is
    created above ``root``.
    """
    _require_directory(root)
    current = root
    for part in directory.relative_to(root).parts:
        current = current / part
        with contextlib.suppress(FileExistsError):
            os.mkdir(current, 0o750)
        _require_directory(current)


def _require_directory(path: Path) -> None:
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory (or a link to one)", str(path))


def lstat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def open_regular(path: Path) -> int:
    """A read-only descriptor of ``path``, which must be a regular file and not a link (ELOOP otherwise)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def chmod_regular(path: Path, mode: int) -> None:
    """chmod that never follows a link: on a descriptor of the file itself."""
    fd = open_regular(path)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def copy_regular(source: Path, copy: Path) -> None:
    """Copy a regular file (never a link) to a new name with its mode and, where allowed, its owner; fsynced."""
    fd = open_regular(source)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        data = handle.read()
    uid = info.st_uid if info.st_uid != os.geteuid() else -1
    gid = info.st_gid if info.st_gid != os.getegid() else -1
    write_new(copy, data, mode=stat.S_IMODE(info.st_mode), uid=uid, gid=gid)
