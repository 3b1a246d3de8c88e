"""`manage.py backup` / `restore`: everything back, keys still sealed, all or nothing; a file from another KEK, a
damaged, truncated, oversized or crafted file is refused with one line and nothing is written."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.sessions.models import Session

from certpanel import backup_file
from certpanel.backup import NOT_BACKED_UP, backed_up_models, backup_create
from repository import keystore
from repository.keystore import kek_id, kek_text, key_store
from repository.models import Certificate, PrivateKey
from tests.conftest import CliResult
from tests.support import panel_contents
from tests.support.factories import ec_key
from tests.support.panel_world import STACKS, World, world
from tests.support.processes import ROOT


@pytest.fixture
def panel(tmp_path: Path, settings: Any, transactional_db: None) -> Path:
    """A panel with one of everything, its KEK in a data directory of the test's own."""
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = ""
    settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH = tmp_path / "key_encryption_key"
    panel_contents.seed()
    return tmp_path


def unpack(data: bytes, kek: bytes | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A backup's header and rows, opened the way restore opens them."""
    header, line, sealed = backup_file.split(data)
    packed = keystore.backup_open(sealed, header=line, kek=kek or keystore.current_kek())
    return header, json.loads(backup_file.decompress(packed, limit=1 << 30))


def craft(rows: list[dict[str, Any]], *, kek: bytes | None = None, **changes: Any) -> bytes:
    """A backup sealed with the panel's own KEK (what only someone holding it can make) around any rows."""
    header = {**backup_create()[1], **changes}
    packed = backup_file.compress(json.dumps(rows).encode())
    header["body_bytes"] = 12 + len(packed) + 16
    line = backup_file.header_line(header)
    return line + b"\n" + keystore.backup_seal(packed, header=line, kek=kek or keystore.current_kek())


def everything() -> list[dict[str, Any]]:
    """The panel's rows as a backup would hold them: equal lists mean an equal panel."""
    return unpack(backup_create()[0])[1]


def test_what_a_backup_holds_and_what_it_leaves_out() -> None:
    labels = {model._meta.label_lower for model in backed_up_models()}
    panel_tables = {
        "repository.certificate",
        "repository.privatekey",
        "repository.keyexport",
        "repository.acmeaccount",
        "repository.acmeorder",
        "repository.acmeorderevent",
        "repository.acmechallenge",
        "repository.panelsettings",
        "services.listener",
        "services.snicertificate",
        "services.deployment",
        "certpanel.notification",
        "auth.user",
        "auth.group",
        "admin.logentry",
    }
    assert panel_tables <= labels
    assert not labels & set(NOT_BACKED_UP) and not any(label.startswith(("axes.", "sessions.")) for label in labels)


def test_backup_writes_one_0600_file_whose_header_is_readable_and_whose_rows_are_not(
    panel: Path, cli: Callable[..., CliResult]
) -> None:
    out = panel / "panel.backup"
    result = cli("backup", "--out", str(out))
    assert result.code == 0, result
    assert "2 certificates" in result.out and "12 listeners" in result.out
    assert kek_id(keystore.current_kek()).hex() in result.out
    assert out.stat().st_mode & 0o777 == 0o600
    data = out.read_bytes()
    header = json.loads(data.split(b"\n", 1)[0])  # `head -1 FILE`
    assert header["format"] == "certpanel-backup" and header["kek_id"] == kek_id(keystore.current_kek()).hex()
    assert header["counts"]["repository.certificate"] == 2 and header["counts"]["auth.user"] == 2
    assert header["migrations"]["repository"] and header["panel_version"]
    # Certificates, password hashes and the sealed keys are all inside the sealed body.
    main = Certificate.objects.get(name="mail.example.com")
    for secret in (b"pbkdf2_sha256", main.certificate_pem[30:80].encode(), b"mail.example.com", b"CPK1"):
        assert secret not in data
    _, rows = unpack(data)
    sealed = [row["fields"]["sealed_pem"] for row in rows if row["model"] == "repository.privatekey"]
    assert len(sealed) == PrivateKey.objects.count() == 5  # 2 certificates, 2 daemon copies, 1 ACME account
    assert all(base64.b64decode(blob).startswith(keystore.MAGIC) for blob in sealed), "keys stay sealed"
    assert "PRIVATE KEY" not in json.dumps(rows)


def test_restore_replace_gives_back_exactly_what_was_backed_up(panel: Path, cli: Callable[..., CliResult]) -> None:
    before, checked = everything(), panel_contents.check()
    out = panel / "panel.backup"
    assert cli("backup", "--out", str(out)).code == 0
    Certificate.objects.filter(name="mail.example.com").update(name="renamed")
    key_store(ec_key())
    Session.objects.create(session_key="x" * 32, session_data="", expire_date="2099-01-01T00:00:00Z")
    result = cli("restore", str(out), "--replace")
    assert result.code == 0, result
    assert result.out.startswith(f"restored {out}: ") and "2 certificates" in result.out
    assert everything() == before and panel_contents.check() == checked
    assert not Session.objects.exists(), "--replace logs everyone out"
    new = key_store(ec_key())  # the id sequences continue after the restored rows (PostgreSQL)
    assert new.pk > max(row["pk"] for row in before if row["model"] == "repository.privatekey")


def test_restore_refuses_a_panel_that_is_not_empty(panel: Path, cli: Callable[..., CliResult]) -> None:
    out = panel / "panel.backup"
    assert cli("backup", "--out", str(out)).code == 0
    before = everything()
    result = cli("restore", str(out))
    assert result.code == 1
    assert result.error_line.startswith("error: This panel is not empty (")
    assert "add --replace to delete everything the panel holds first; nothing was written." in result.error_line
    assert everything() == before


def test_restore_refuses_a_backup_made_under_another_kek_and_writes_nothing(
    panel: Path, cli: Callable[..., CliResult], settings: Any
) -> None:
    out = panel / "panel.backup"
    assert cli("backup", "--out", str(out)).code == 0
    made_under = kek_id(keystore.current_kek()).hex()
    Certificate.objects.filter(name="mail.example.com").update(name="changed after the backup")
    before = everything()
    other = os.urandom(32)
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = kek_text(other)
    result = cli("restore", str(out), "--replace")
    assert result.code == 1
    assert result.error_line.startswith(
        f"error: this backup was made under another key-encryption key: its id is {made_under}, "
        f"this panel's is {kek_id(other).hex()}."
    )
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = ""
    assert everything() == before


def test_restore_on_a_data_dir_without_any_kek_says_which_key_it_needs(
    panel: Path, cli: Callable[..., CliResult], settings: Any
) -> None:
    out = panel / "panel.backup"
    assert cli("backup", "--out", str(out)).code == 0
    made_under = kek_id(keystore.current_kek()).hex()
    settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH = panel / "fresh" / "key_encryption_key"
    result = cli("restore", str(out), "--replace")
    assert result.code == 1 and "has no key-encryption key yet" in result.error_line
    assert f"the key this backup was made under (id {made_under})" in result.error_line
    assert not (panel / "fresh" / "key_encryption_key").exists(), "restore never invents a key"


def test_no_backup_half_way_through_a_rotation(panel: Path, cli: Callable[..., CliResult]) -> None:
    (panel / "key_encryption_key.next").write_text(kek_text(os.urandom(32)) + "\n")
    key_store(ec_key())  # sealed under the rotation's new key; the others are not yet
    result = cli("backup", "--out", str(panel / "panel.backup"))
    assert result.code == 1 and "a key rotation is unfinished. Run rotate-kek to finish it" in result.error_line
    assert not (panel / "panel.backup").exists()


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1 :]


@pytest.fixture
def backup(panel: Path, cli: Callable[..., CliResult]) -> Iterator[tuple[bytes, list[dict[str, Any]]]]:
    out = panel / "panel.backup"
    assert cli("backup", "--out", str(out)).code == 0
    yield out.read_bytes(), everything()


BAD_FILES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "empty": (lambda data: b"", "not a certpanel backup (no header line)"),
    "garbage": (lambda data: os.urandom(4096), "not a certpanel backup"),
    "a PEM file": (lambda data: b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "not a certpanel"),
    "truncated": (lambda data: data[:-100], "The backup file is truncated"),
    "cut in the header": (lambda data: data[:40], "not a certpanel backup"),
    "extra bytes": (lambda data: data + b"\0", "followed by extra data"),
    "a byte changed in the body": (lambda data: _flip(data, len(data) - 50), "damaged or was changed"),
    "a count changed in the header": (
        lambda data: data.replace(b'"repository.certificate":2', b'"repository.certificate":3', 1),
        "damaged or was changed",
    ),
    "a newer format": (
        lambda data: data.replace(b'"format_version":1', b'"format_version":9', 1),
        "format version 9, which this panel",
    ),
    "a header that never ends": (lambda data: b"{" + b" " * (128 * 1024), "no header line"),
}


def test_a_damaged_file_is_refused_in_one_line_and_nothing_is_written(
    backup: tuple[bytes, list[dict[str, Any]]], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    data, before = backup
    for damage, (change, message) in BAD_FILES.items():
        bad = tmp_path / "bad.backup"
        bad.write_bytes(change(data))
        result = cli("restore", str(bad), "--replace")
        assert result.code == 1 and result.err.count("\n") <= 1, (damage, result)
        assert result.error_line.startswith("error: ") and message in result.error_line, (damage, result.error_line)
    assert everything() == before


def _rows_with(rows: list[dict[str, Any]], model: str, change: Callable[[dict[str, Any]], None]) -> list[Any]:
    rows = json.loads(json.dumps(rows))
    change(next(row for row in rows if row["model"] == model))
    return rows


CRAFTED: dict[str, tuple[Callable[[list[dict[str, Any]]], list[Any]], str]] = {
    "a session row": (
        lambda rows: [*rows, {"model": "sessions.session", "pk": "k", "fields": {}}],
        "rows this panel never backs up or does not have: sessions.session",
    ),
    "a permission row": (
        lambda rows: [*rows, {"model": "auth.permission", "pk": 1, "fields": {}}],
        "never backs up or does not have: auth.permission",
    ),
    "an unknown model": (lambda rows: [*rows, {"model": "evil.thing", "pk": 1, "fields": {}}], "evil.thing"),
    "not rows": (lambda rows: {"model": "auth.user"}, "rows are not model, pk and fields"),
    "a row without pk": (lambda rows: [{"model": "auth.user", "fields": {}}], "rows are not model, pk and fields"),
    "a listener on a certificate that is not there": (
        lambda rows: _rows_with(rows, "services.listener", lambda row: row["fields"].update(certificate=987654)),
        "cannot be restored, nothing was written",
    ),
    "a port that is not a number": (
        lambda rows: _rows_with(rows, "services.listener", lambda row: row["fields"].update(port="twenty-five")),
        "cannot be restored, nothing was written",
    ),
    "a field this panel does not have": (
        lambda rows: _rows_with(rows, "services.listener", lambda row: row["fields"].update(shell="rm -rf /")),
        "cannot be restored, nothing was written",
    ),
    "a key that does not open": (
        lambda rows: _rows_with(
            rows,
            "repository.privatekey",
            lambda row: row["fields"].update(
                sealed_pem=base64.b64encode(keystore.seal(b"x", kek=os.urandom(32))).decode()
            ),
        ),
        "in the backup cannot be opened",
    ),
}


def test_a_crafted_file_sealed_with_the_right_kek_is_still_checked_row_by_row(
    backup: tuple[bytes, list[dict[str, Any]]], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Even a file with a valid seal (made by someone holding the KEK) writes nothing unless every row is sound:
    the restore deletes everything first (--replace) and must roll that back too."""
    data, before = backup
    for crafted, (change, message) in CRAFTED.items():
        rows = change(unpack(data)[1])
        counts: dict[str, int] = {}
        if isinstance(rows, list) and all(isinstance(row, dict) and "model" in row for row in rows):
            for row in rows:
                counts[row["model"]] = counts.get(row["model"], 0) + 1
        bad = tmp_path / "crafted.backup"
        bad.write_bytes(craft(rows, counts=counts))
        result = cli("restore", str(bad), "--replace")
        assert result.code == 1 and result.error_line.startswith("error: "), (crafted, result)
        assert message in result.error_line, (crafted, result.error_line)
        assert everything() == before, crafted


def test_a_file_or_body_over_the_size_limit_is_refused_before_it_is_read_whole(
    backup: tuple[bytes, list[dict[str, Any]]], cli: Callable[..., CliResult], tmp_path: Path, settings: Any
) -> None:
    data, before = backup
    path = tmp_path / "panel.backup"
    path.write_bytes(data)
    settings.CERTPANEL_BACKUP_MAX_BYTES = len(data) - 1
    result = cli("restore", str(path), "--replace")
    assert result.code == 1 and "is larger than" in result.error_line
    assert "CERTPANEL_BACKUP_MAX_BYTES" in result.error_line
    # A small file that inflates past the limit (a "zip bomb" with a valid seal) stops at the limit.
    settings.CERTPANEL_BACKUP_MAX_BYTES = 1 << 20
    rows = unpack(data)[1]
    rows[0]["fields"]["padding"] = " " * (2 << 20)
    path.write_bytes(craft(rows))
    assert path.stat().st_size < 1 << 20
    result = cli("restore", str(path), "--replace")
    assert result.code == 1 and "inflates to more than 1048576 bytes" in result.error_line
    assert everything() == before


def test_a_backup_over_the_size_limit_is_not_written(panel: Path, cli: Callable[..., CliResult], settings: Any) -> None:
    settings.CERTPANEL_BACKUP_MAX_BYTES = 10_000
    result = cli("backup", "--out", str(panel / "panel.backup"))
    assert result.code == 1 and "more than CERTPANEL_BACKUP_MAX_BYTES (10000)" in result.error_line
    assert not (panel / "panel.backup").exists()


def test_a_backup_from_another_schema_is_refused_with_what_to_do(
    backup: tuple[bytes, list[dict[str, Any]]], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    data, before = backup
    header, rows = unpack(data)
    newer = {**header["migrations"], "services": [*header["migrations"]["services"], "0099_from_the_future"]}
    older = {**header["migrations"], "services": header["migrations"]["services"][:-1]}
    cases = {
        "newer": (newer, "migrations this panel has not applied (services.0099_from_the_future)"),
        "older": (older, f"made by panel version {header['panel_version']}, before migrations services."),
    }
    for name, (migrations, message) in cases.items():
        path = tmp_path / f"{name}.backup"
        path.write_bytes(craft(rows, migrations=migrations))
        result = cli("restore", str(path), "--replace")
        assert result.code == 1 and message in result.error_line, result.error_line
    assert everything() == before


# The CLI as admins run it: a backup on one install, restored on a fresh one (new data dir, new database).

SEED = "from tests.support.panel_contents import seed; seed()"
CHECK = "from tests.support.panel_contents import print_check; print_check()"
SHIFT_PERMISSION_IDS = """
from django.contrib.auth.models import Permission
old = Permission.objects.get(codename="view_certificate")
old.delete()
Permission.objects.create(codename=old.codename, name=old.name, content_type=old.content_type)
"""


@contextlib.contextmanager
def _fresh_panel(stack: str, root: Path) -> Iterator[World]:
    with world(stack, root) as made:
        made.manage("migrate", "--noinput")
        yield made


def _checked(panel: World) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(panel.manage("shell", "-c", CHECK).strip().splitlines()[-1])
    return result


def _counts(panel: World) -> list[tuple[Any, ...]]:
    tables = ("repository_certificate", "repository_privatekey", "services_listener", "auth_user", "auth_group")
    return [panel.query(f"SELECT count(*) FROM {table}")[0] for table in tables]


def _restore_under(panel: World, path: Path, kek: bytes) -> tuple[int, str]:
    env = {**panel.env, "CERTPANEL_KEY_ENCRYPTION_KEY": kek_text(kek)}
    done = subprocess.run(
        [sys.executable, "manage.py", "restore", str(path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_backup_then_restore_on_a_fresh_install_keeps_everything(stack: str, tmp_path: Path) -> None:
    backup_path = tmp_path / "panel.backup"
    with _fresh_panel(stack, tmp_path / "old") as old:
        old.manage("shell", "-c", SEED)
        expected = _checked(old)
        certificates = json.loads(old.manage("certs", "list", "--json"))
        listeners, old_data_dir = old.manage("services", "list", "--json"), str(old.data_dir)
        accounts = json.loads(old.manage("acme", "accounts", "--json"))
        old.manage("backup", "--out", str(backup_path))
        kek = keystore.decode_kek((old.data_dir / "key_encryption_key").read_text())
    assert backup_path.stat().st_mode & 0o777 == 0o600
    with _fresh_panel(stack, tmp_path / "new") as new:
        # First with another key-encryption key: refused in one line, and nothing written.
        other = os.urandom(32)
        code, err = _restore_under(new, backup_path, other)
        assert code == 1 and err.strip() == (
            f"error: this backup was made under another key-encryption key: its id is {kek_id(kek).hex()}, this "
            f"panel's is {kek_id(other).hex()}. Give the panel the key the backup was made under "
            f"(CERTPANEL_KEY_ENCRYPTION_KEY, or the file {new.data_dir / 'key_encryption_key'}), then restore; "
            "nothing was written."
        )
        assert _counts(new) == [(0,)] * 5
        # Then with the right one, given as admins would: the environment variable (production), or the file
        # copied into the new data dir (embedded).
        if stack == "production":
            new.env["CERTPANEL_KEY_ENCRYPTION_KEY"] = kek_text(kek)
        else:
            (new.data_dir / "key_encryption_key").write_text(kek_text(kek) + "\n")
            (new.data_dir / "key_encryption_key").chmod(0o600)
        new.manage("shell", "-c", SHIFT_PERMISSION_IDS)  # permissions are found by name, not by id
        out = new.manage("restore", str(backup_path))
        assert out.startswith(f"restored {backup_path}: ") and "2 certificates" in out
        assert _checked(new) == expected
        again = tmp_path / "again.backup"
        new.manage("backup", "--out", str(again))
        assert unpack(again.read_bytes(), kek)[1] == unpack(backup_path.read_bytes(), kek)[1], "every row equal"
        assert expected["viewer_password_ok"] and "repository.view_certificate" in expected["viewer_permissions"]
        assert json.loads(new.manage("certs", "list", "--json")) == certificates
        # Default deploy paths follow the data dir (CERTPANEL_DEPLOY_DIR): they are not stored.
        listeners_here = json.loads(listeners.replace(old_data_dir, str(new.data_dir)))
        assert json.loads(new.manage("services", "list", "--json")) == listeners_here
        assert json.loads(new.manage("acme", "accounts", "--json")) == accounts
        (new.root / "pw").write_bytes(panel_contents.PASSPHRASE)
        locked = next(entry for entry in certificates if entry["name"] == "imap.example.com")
        export = ["certs", "export", str(locked["id"]), "--format", "key", "--out", "-"]
        pem = new.manage(*export, "--passphrase-file", str(new.root / "pw"))
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
        created = json.loads(new.manage("certs", "selfsigned", "--name", "after.example.com", "--json"))
        assert created["id"] > max(entry["id"] for entry in certificates)
