"""The data dir is 0700 and its files 0600 after every start, whatever they were before."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from certpanel.datadir import data_dir_protect, private_file_ensure

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_loose_data_dir_and_its_files_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "certpanel.sqlite3").write_bytes(b"")
    (data / "certpanel.sqlite3").chmod(0o644)
    (data / "key_encryption_key").write_text("k")
    (data / "key_encryption_key").chmod(0o666)
    (data / "read-only").write_text("r")
    (data / "read-only").chmod(0o444)
    deploy = data / "deploy"
    deploy.mkdir(mode=0o755)
    (deploy / "mail.pem").write_text("cert")
    (deploy / "mail.pem").chmod(0o644)
    outside = tmp_path / "outside"
    outside.write_text("not ours")
    outside.chmod(0o644)
    (data / "link").symlink_to(outside)

    data_dir_protect(data)

    assert _mode(data) == 0o700
    assert _mode(data / "certpanel.sqlite3") == 0o600 and _mode(data / "key_encryption_key") == 0o600
    assert _mode(data / "read-only") == 0o400  # bits are only taken away
    # A daemon's files keep the mode their listener gave them; the symlink's target is not touched.
    assert _mode(deploy) == 0o755 and _mode(deploy / "mail.pem") == 0o644
    assert _mode(outside) == 0o644


def test_a_missing_data_dir_is_created_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        data_dir_protect(tmp_path / "a" / "data")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a" / "data") == 0o700


def test_the_database_file_is_created_0600_and_an_existing_one_is_left_alone(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        private_file_ensure(tmp_path / "db.sqlite3")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "db.sqlite3") == 0o600
    (tmp_path / "db.sqlite3").write_bytes(b"data")
    private_file_ensure(tmp_path / "db.sqlite3")
    assert (tmp_path / "db.sqlite3").read_bytes() == b"data"


def _manage(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # SQLite in a data dir of its own; DJANGO_ALLOW_ASYNC_UNSAFE (set by the browser tests) would be async.E001.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTPANEL_", "DJANGO_")) and k != "DATABASE_URL"}
    env.update({"CERTPANEL_DATA_DIR": str(data), "CERTPANEL_HOSTNAME": "mail.example.com"})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.integration
def test_every_start_tightens_a_data_dir_left_0755_with_an_sqlite_file_0644(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = os.umask(0o022)  # what a shell usually has
    try:
        first = _manage(data, "migrate", "--verbosity", "0")
    finally:
        os.umask(old)
    assert first.returncode == 0, first.stderr
    database = data / "certpanel.sqlite3"
    assert database.stat().st_size > 0 and _mode(database) == 0o600  # created private, not under the umask
    # An admin (or an older version) loosened it all: the next start, of any process, tightens it again.
    data.chmod(0o755)
    for path in (database, data / "secret_key"):
        path.chmod(0o644)
    assert _manage(data, "check").returncode == 0
    assert _mode(data) == 0o700 and _mode(database) == 0o600 and _mode(data / "secret_key") == 0o600
