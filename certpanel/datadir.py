"""The data dir holds the key-encryption key, the secret key and the database: nobody but its owner may read it.

Enforced at every start (settings.py runs this in the web server, the worker, beat and every command), not only
when the dir is created: a dir made by hand with 0755, or a SQLite file created under a 0022 umask with 0644, is
closed the next time anything starts. Files directly in the dir lose every group and other bit; subdirectories and
what is in them keep their modes (a deploy dir's files have the modes their daemons need): the data dir's own 0700
already keeps everyone else out of them. Symlinks are never followed. No Django imports.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def data_dir_protect(path: Path) -> None:
    """Create ``path`` 0700, or take group and other bits off it and off every file directly in it."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _tighten(path, DIR_MODE)
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                _tighten(Path(entry.path), FILE_MODE)


def private_file_ensure(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists: SQLite then gives its -wal and -shm files the same mode
    (it copies the database file's), so the database is never readable by others, not even before the next start."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def _tighten(path: Path, allowed: int) -> None:
    """Take the bits outside ``allowed`` off ``path`` (checked with lstat: a symlink is not a file or dir here, and
    the dir is writable by its owner only, so nobody else can swap one in)."""
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if mode & ~allowed:
            os.chmod(path, mode & allowed)
    except FileNotFoundError:
        return  # a temporary file renamed away meanwhile
    except OSError as exc:
        raise SystemExit(
            f"error: cannot make {path} private: {exc.strerror}. Run the panel as the owner of its data dir "
            "(CERTPANEL_DATA_DIR)."
        ) from None
