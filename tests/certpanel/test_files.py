"""certpanel/files.py: files appear whole, with their mode from the first byte, and leave no temp file behind."""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from certpanel.files import create_atomically, write_atomically, write_new


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would widen a careless write: the helper must set the mode itself."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o640])
@pytest.mark.usefixtures("open_umask")
def test_write_atomically_gives_exactly_the_mode_asked(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "out.pem"
    write_atomically(path, b"data", mode=mode)
    assert _mode(path) == mode
    assert path.read_bytes() == b"data"


def test_write_atomically_replaces_the_whole_file_and_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"a much longer previous content\n" * 100)
    path.chmod(0o666)
    with path.open("rb") as reader:  # a reader of the old file keeps the old file, whole
        write_atomically(path, b"new", mode=0o600)
        assert reader.read(30) == b"a much longer previous content"
    assert path.read_bytes() == b"new"
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]


def test_write_atomically_leaves_no_temp_file_when_the_rename_fails(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # a directory cannot be replaced by a file
    with pytest.raises(IsADirectoryError):
        write_atomically(target, b"data", mode=0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_write_atomically_leaves_no_temp_file_and_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.pem"
    path.write_bytes(b"old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, b"new", mode=0o644)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pem"]


def test_write_atomically_in_a_missing_directory_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "missing" / "out.pem", b"data", mode=0o644)
    assert list(tmp_path.iterdir()) == []


def test_write_new_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "staged"
    path.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        write_new(path, b"mine", mode=0o600)
    assert path.read_bytes() == b"someone else's"


@pytest.mark.usefixtures("open_umask")
def test_create_atomically_creates_with_the_mode_and_never_replaces(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    assert create_atomically(path, b"first\n", mode=0o600) is True
    assert create_atomically(path, b"second\n", mode=0o644) is False
    assert path.read_bytes() == b"first\n"
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


def test_concurrent_creators_agree_on_one_value(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    start = threading.Barrier(8)
    won: list[bytes] = []

    def create(value: bytes) -> None:
        start.wait()
        if create_atomically(path, value, mode=0o600):
            won.append(value)

    threads = [threading.Thread(target=create, args=(f"value-{i}".encode(),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(won) == 1
    assert path.read_bytes() == won[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]
