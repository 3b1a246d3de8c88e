"""All-or-nothing file writes for a deployment: stage everything beside its target, then swap by renames.

Every new file, and a hard link to (or, where links are impossible, a copy of) the file it replaces, is written
and fsynced beside its target before any target is replaced, so a full or read-only disk fails before a single
daemon file changes. Replacing and restoring are then renames within one directory, which need no disk space:
a rollback cannot fail for want of it, and the certificate and key on disk always belong together.

What was staged is described by ``Staged`` records the deployment stores before the swap; whether a target was
replaced is read from the disk (its staged file is gone once renamed), so every step here can simply be run
again by whoever resumes a deployment whose worker died.

Targets lie under the deploy roots: each one's directory is resolved (realpath) before anything is written and
must lie under a root; missing directories are created below that root only. A target, or its ``.previous``,
that is a link is refused, and nothing is written through one (certpanel/files.py).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from certpanel.files import (
    chmod_regular,
    copy_regular,
    fsync_path,
    lstat_or_none,
    makedirs_under,
    resolve_under,
    write_new,
)
from services.errors import StagingError

log = logging.getLogger(__name__)

# Links fail on these (filesystems without hard links, odd mounts): the previous file is copied instead.
NO_LINK = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


@dataclass
class FileWrite:
    path: Path
    content: bytes
    secret: bool


@dataclass(frozen=True)
class Staged:
    """A daemon file of a deployment with its new content and its previous file, both beside it.

    While ``new`` exists the target still holds its previous file; once ``new`` is gone it was renamed onto the
    target, and ``previous`` (empty when there was no file) is what a rollback renames back.
    """

    path: str
    new: str
    previous: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "new": self.new, "previous": self.previous}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Staged:
        return cls(str(data["path"]), str(data["new"]), str(data.get("previous", "")))


def disk_error(exc: OSError, path: Path) -> str:
    """An OSError from writing ``path`` in words an admin can act on."""
    where = path.parent
    if exc.errno == errno.ENOSPC:
        return f"the disk holding {where} is full"
    if exc.errno == errno.EDQUOT:
        return f"the disk quota for {where} is used up"
    if exc.errno == errno.EROFS:
        return f"{where} is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied writing {path}"
    if exc.errno == errno.ENOTDIR:
        return f"{where} is not a directory"
    if exc.errno == errno.EISDIR:
        return f"{path} is a directory"
    if exc.errno == errno.ELOOP:
        return f"{exc.filename or path} is a symbolic link: the panel does not write through links"
    return f"cannot write {path}: {exc.strerror or exc}"


def staged_names(path: Path, tag: str) -> tuple[Path, Path]:
    """Where a deployment stages ``path``: hidden names in the same directory, fixed per deployment so that a
    resumed deployment finds (or cleans up) what an interrupted one left."""
    return path.with_name(f".{path.name}.{tag}.new"), path.with_name(f".{path.name}.{tag}.previous")


def _fsync_directories(paths: Iterable[str | Path]) -> None:
    """Make renames and new names durable: fsync each directory once."""
    for directory in {Path(p).parent for p in paths}:
        fsync_path(directory)


def _write_new(path: Path, content: bytes, *, mode: int, uid: int, gid: int) -> None:
    path.unlink(missing_ok=True)  # a leftover of an interrupted attempt of this same deployment
    write_new(path, content, mode=mode, uid=uid, gid=gid)


def _keep_previous(path: Path, previous: Path) -> None:
    """A hard link: no disk space, and a rollback brings back the same inode (content, mode, owner)."""
    previous.unlink(missing_ok=True)
    try:
        os.link(path, previous, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in NO_LINK:
            raise
        copy_regular(path, previous)


def _refusal(path: Path) -> str:
    """Why ``path`` (or the ``.previous`` a success leaves beside it) must not be written, or ""."""
    for name, role in ((path, "the target"), (Path(f"{path}.previous"), "the previous copy")):
        info = lstat_or_none(name)
        if info is None or stat.S_ISREG(info.st_mode):
            continue
        if stat.S_ISLNK(info.st_mode):
            return (
                f"{name} ({role}) is a symbolic link to {os.readlink(name)}: the panel does not write through links; "
                "remove the link, or point the listener at the file itself"
            )
        return f"{name} ({role}) is not a regular file"
    return ""


def targets_check(writes: list[FileWrite], roots: Sequence[Path | str]) -> list[tuple[FileWrite, Path]]:
    """Each write with its directory resolved and the root it lies under; StagingError when one lies under no
    root or is a link (nothing is written: this runs before staging)."""
    checked = []
    for write in writes:
        found = resolve_under(write.path, roots)
        if found is None:
            where = ", ".join(str(root) for root in roots) or "none configured"
            raise StagingError(f"{write.path} is outside the deploy roots ({where})")
        real, root = found
        if not root.is_dir():
            raise StagingError(
                f"the deploy root {root} does not exist: create it on the host (the panel creates directories only "
                "inside a deploy root)"
            )
        refusal = _refusal(real)
        if refusal:
            raise StagingError(refusal)
        checked.append((replace(write, path=real), root))
    return checked


def files_discard(paths: Iterable[Path], tag: str) -> None:
    """Remove whatever staging left for these targets (nothing was replaced yet)."""
    for path in paths:
        for name in staged_names(path, tag):
            try:
                name.unlink(missing_ok=True)
            except OSError:
                log.warning("could not remove %s", name)


def files_stage(writes: list[FileWrite], *, uid: int, gid: int, tag: str, roots: Sequence[Path | str]) -> list[Staged]:
    """Write and fsync every new file (and keep every previous one) beside its target; replace nothing.

    Every target must lie under one of ``roots`` (see ``targets_check``). Any failure removes what was staged and
    raises a StagingError saying why: no daemon file has changed.
    """
    checked = targets_check(writes, roots)
    paths = [write.path for write, _ in checked]
    staged: list[Staged] = []
    for write, root in checked:
        new, previous = staged_names(write.path, tag)
        try:
            makedirs_under(write.path.parent, root)
            _write_new(new, write.content, mode=0o600 if write.secret else 0o644, uid=uid, gid=gid)
            kept = ""
            if os.path.lexists(write.path):
                _keep_previous(write.path, previous)
                kept = str(previous)
        except OSError as exc:
            files_discard(paths, tag)
            raise StagingError(disk_error(exc, write.path)) from None
        staged.append(Staged(str(write.path), str(new), kept))
    try:
        _fsync_directories(s.path for s in staged)
    except OSError as exc:
        files_discard(paths, tag)
        raise StagingError(disk_error(exc, paths[0])) from None
    return staged


def files_swap(staged: list[Staged]) -> None:
    """Rename every staged file onto its target. Idempotent: a target already replaced is left as it is."""
    for item in staged:
        if os.path.lexists(item.new):
            try:
                os.replace(item.new, item.path)
            except OSError as exc:
                raise StagingError(disk_error(exc, Path(item.path))) from None
    try:
        _fsync_directories(s.path for s in staged)
    except OSError as exc:
        raise StagingError(disk_error(exc, Path(staged[0].path))) from None


def files_restore(staged: list[Staged]) -> int:
    """Put every previous file back by rename (no disk space needed); returns how many targets had been replaced.

    Idempotent, so a rollback interrupted half-way can simply be run again.
    """
    restored = 0
    for item in reversed(staged):
        if os.path.lexists(item.new):  # never swapped: the target still holds its previous file
            Path(item.new).unlink()
            if item.previous:
                Path(item.previous).unlink(missing_ok=True)
            continue
        restored += 1
        if item.previous:
            if os.path.lexists(item.previous):
                os.replace(item.previous, item.path)
        else:
            Path(item.path).unlink(missing_ok=True)  # there was no file before this deployment
    _fsync_directories(s.path for s in staged)
    return restored


def files_finish(staged: list[Staged]) -> None:
    """After success, each previous file becomes ``<name>.previous``: the admin's copy of what was served.

    Made readable by root only (it is no longer served) before the rename, on a descriptor of the file itself;
    a link planted at ``<name>.previous`` since staging is replaced by the rename, never written through.
    """
    for item in staged:
        if item.previous and os.path.lexists(item.previous):
            chmod_regular(Path(item.previous), 0o600)
            os.replace(item.previous, f"{item.path}.previous")
