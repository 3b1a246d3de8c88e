"""`rotate-kek`: every key re-sealed under the new KEK; killed at any point, the panel still opens every key, and
running it again finishes the rotation."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from repository import kek_rotation, keystore
from repository.errors import KeyStoreError
from repository.kek_rotation import kek_rotate
from repository.keystore import kek_id, kek_text, key_load, key_store, sealed_kek_id, spki_sha256
from repository.models import AcmeRegistration, PrivateKey
from tests.support.factories import ec_key
from tests.support.panel_world import STACKS, World, world
from tests.support.processes import ROOT


class Killed(BaseException):
    """What SIGKILL does to the command, in-process: it stops between two statements, and an open transaction is
    rolled back (BaseException: nothing in the rotation catches it)."""


@pytest.fixture
def data_dir(tmp_path: Path, settings: Any) -> Path:
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = ""
    settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH = tmp_path / "key_encryption_key"
    return tmp_path


def _keys(count: int = 5) -> dict[int, str]:
    """Stored keys (one with a passphrase), by id, with their public key hash."""
    rows = [key_store(ec_key()) for _ in range(count - 1)] + [key_store(ec_key(), passphrase=b"pw")]
    return {row.pk: row.public_key_sha256 for row in rows}


def _every_key_opens(expected: dict[int, str]) -> None:
    for row in PrivateKey.objects.filter(pk__in=expected):
        key = key_load(row, passphrase=b"pw" if row.has_passphrase else None)
        assert spki_sha256(key.public_key()) == expected[row.pk]


def _sealed_under() -> set[bytes]:
    return {sealed_kek_id(blob) for blob in PrivateKey.objects.values_list("sealed_pem", flat=True)}


def _finished(data_dir: Path, new: bytes, expected: dict[int, str]) -> None:
    assert _sealed_under() == {kek_id(new)}
    assert keystore.decode_kek((data_dir / "key_encryption_key").read_text()) == new
    assert (data_dir / "key_encryption_key").stat().st_mode & 0o777 == 0o600
    assert not (data_dir / "key_encryption_key.next").exists()
    _every_key_opens(expected)


@pytest.mark.django_db
def test_rotation_reseals_every_key_and_the_panel_then_uses_the_new_key(data_dir: Path) -> None:
    expected = _keys()
    old, new = keystore.current_kek(), os.urandom(32)
    lines: list[str] = []
    done = kek_rotate(new, batch_size=2, progress=lines.append)
    assert (done.keys, done.resealed, done.finished) == (5, 5, True)
    assert lines[-1] == "re-sealed 5 of 5 keys"
    _finished(data_dir, new, expected)
    assert keystore.current_kek() == new and kek_id(old) not in keystore.key_ring().keys
    assert sealed_kek_id(key_store(ec_key()).sealed_pem) == kek_id(new)


def _kill_before_next_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kek_rotation, "_write_next", _raise)


def _kill_after_next_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kek_rotation, "_durable_commits", _raise)


def _kill_half_way(monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = kek_rotation.seal, []

    def seal(plaintext: bytes, *, kek: bytes) -> bytes:
        calls.append(1)
        if len(calls) == 4:  # the second batch of two dies after one key: its transaction is rolled back
            raise Killed
        return real(plaintext, kek=kek)

    monkeypatch.setattr(kek_rotation, "seal", seal)


def _kill_before_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kek_rotation, "write_atomically", _raise)


def _kill_between_switch_and_cleanup(monkeypatch: pytest.MonkeyPatch) -> None:
    real = kek_rotation.write_atomically

    def write_then_die(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(kek_rotation, "write_atomically", write_then_die)


def _raise(*args: Any, **kwargs: Any) -> None:
    raise Killed


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kill",
    [
        _kill_before_next_file,
        _kill_after_next_file,
        _kill_half_way,
        _kill_before_switch,
        _kill_between_switch_and_cleanup,
    ],
)
def test_killed_at_any_point_every_key_still_opens_and_running_again_finishes(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, kill: Callable[[pytest.MonkeyPatch], None]
) -> None:
    expected = _keys()
    new = os.urandom(32)
    with monkeypatch.context() as patched:
        kill(patched)
        with pytest.raises(Killed):
            kek_rotate(new, batch_size=2)
    _every_key_opens(expected)  # the panel works at the kill point, whatever the files and rows say
    kek_rotate(new, batch_size=2)
    _finished(data_dir, new, expected)


@pytest.mark.django_db
def test_half_way_both_keys_are_in_use_and_new_keys_are_sealed_under_the_new_one(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _keys()
    old, new = keystore.current_kek(), os.urandom(32)
    with monkeypatch.context() as patched:
        _kill_half_way(patched)
        with pytest.raises(Killed):
            kek_rotate(new, batch_size=2)
    assert _sealed_under() == {kek_id(old), kek_id(new)}
    assert sealed_kek_id(key_store(ec_key()).sealed_pem) == kek_id(new)
    kek_rotate(new)
    _finished(data_dir, new, expected)


@pytest.mark.django_db
def test_with_the_key_in_the_environment_the_admin_switches_it_and_runs_again(data_dir: Path, settings: Any) -> None:
    old, new = os.urandom(32), os.urandom(32)
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = kek_text(old)
    expected = _keys()
    first = kek_rotate(new)
    assert (first.resealed, first.finished) == (5, False)
    assert (data_dir / "key_encryption_key.next").exists() and not (data_dir / "key_encryption_key").exists()
    _every_key_opens(expected)  # still on the old environment: the .next file keeps the panel working
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = kek_text(new)  # the admin's edit and restart
    second = kek_rotate(new)
    assert (second.resealed, second.finished) == (0, True)
    assert not (data_dir / "key_encryption_key.next").exists() and _sealed_under() == {kek_id(new)}
    _every_key_opens(expected)


@pytest.mark.django_db
def test_a_key_no_known_kek_opens_stops_the_rotation_before_anything_is_written(data_dir: Path) -> None:
    _keys(2)
    stray = PrivateKey.objects.create(key_type="ec256", sealed_pem=keystore.seal(b"x", kek=os.urandom(32)))
    with pytest.raises(KeyStoreError, match=f"Private key #{stray.pk} cannot be opened.*nothing was changed"):
        kek_rotate(os.urandom(32))
    assert not (data_dir / "key_encryption_key.next").exists()
    assert _sealed_under() == {kek_id(keystore.current_kek()), sealed_kek_id(stray.sealed_pem)}


@pytest.mark.django_db
def test_a_second_rotation_to_another_key_waits_for_the_first(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _keys()
    first = os.urandom(32)
    with monkeypatch.context() as patched:
        _kill_half_way(patched)
        with pytest.raises(Killed):
            kek_rotate(first, batch_size=2)
    with pytest.raises(KeyStoreError, match=f"rotation to another key-encryption key \\(id {kek_id(first).hex()}"):
        kek_rotate(os.urandom(32))
    kek_rotate(first)
    _finished(data_dir, first, expected)


@pytest.fixture
def cli_data_dir(data_dir: Path, transactional_db: None) -> Path:
    return data_dir


def test_the_command_explains_a_missing_short_or_unchanged_key_file(
    cli_data_dir: Path, cli: Callable[..., Any], write_file: Callable[[str, bytes], str]
) -> None:
    _keys(1)
    current = keystore.current_kek()
    cases = {
        str(cli_data_dir / "nowhere.kek"): "cannot read new key file",
        write_file("short.kek", b"c2hvcnQ=\n"): "new key file .* must be 32 bytes in base64",
        write_file("same.kek", (kek_text(current) + "\n").encode()): "already uses .*nothing to rotate",
    }
    for path, message in cases.items():
        result = cli("rotate-kek", "--new-key-file", path)
        assert result.code == 1 and result.error_line.startswith("error: "), result
        assert re.search(message, result.error_line), result.error_line
    assert _sealed_under() == {kek_id(current)} and not (cli_data_dir / "key_encryption_key.next").exists()


def test_the_command_reports_its_progress_and_the_result(
    cli_data_dir: Path, cli: Callable[..., Any], write_file: Callable[[str, bytes], str]
) -> None:
    expected = _keys(3)
    new = os.urandom(32)
    result = cli("rotate-kek", "--new-key-file", write_file("new.kek", kek_text(new).encode()), "--batch-size", "1")
    assert result.code == 0, result
    assert "re-sealed 1 of 3 keys" in result.out and "re-sealed 3 of 3 keys" in result.out
    assert f"done: every key (3) is sealed under key-encryption key {kek_id(new).hex()}" in result.out
    _finished(cli_data_dir, new, expected)


def test_with_the_key_in_the_environment_the_command_says_how_to_finish(
    cli_data_dir: Path, cli: Callable[..., Any], write_file: Callable[[str, bytes], str], settings: Any
) -> None:
    settings.CERTPANEL_KEY_ENCRYPTION_KEY = kek_text(os.urandom(32))
    _keys(2)
    new = os.urandom(32)
    result = cli("rotate-kek", "--new-key-file", write_file("new.kek", kek_text(new).encode()), "--json")
    assert result.code == 0, result
    assert json.loads(result.out) == {"kek_id": kek_id(new).hex(), "keys": 2, "resealed": 2, "finished": False}
    result = cli("rotate-kek", "--new-key-file", write_file("new.kek", kek_text(new).encode()))
    assert "To finish: put the new key in CERTPANEL_KEY_ENCRYPTION_KEY, restart web, worker and beat" in result.out
    assert str(cli_data_dir / "key_encryption_key.next") in result.out


# The real command, SIGKILLed by the test once it has re-sealed a few keys, then run again.

CHECK_KEYS = """
from repository.keystore import key_load, sealed_kek_id, spki_sha256
from repository.models import Certificate, PrivateKey
from cryptography import x509
rows = list(PrivateKey.objects.all())
bad = [row.pk for row in rows if spki_sha256(key_load(row).public_key()) != row.public_key_sha256]
for entry in Certificate.objects.exclude(key=None):
    leaf = x509.load_pem_x509_certificate(entry.certificate_pem.encode())
    assert spki_sha256(leaf.public_key()) == entry.key.public_key_sha256
print(len(rows), len(bad), ",".join(sorted({sealed_kek_id(row.sealed_pem).hex() for row in rows})))
"""
MAKE_KEYS = """
from cryptography.hazmat.primitives.asymmetric import ec
from repository.keystore import key_store
for _ in range(24):
    key_store(ec.generate_private_key(ec.SECP256R1()))
"""


@pytest.fixture(params=STACKS)
def panel(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with world(request.param, tmp_path / request.param) as made:
        made.manage("migrate", "--noinput")
        yield made


def _check_keys(panel: World) -> tuple[int, int, set[str]]:
    count, bad, ids = panel.manage("shell", "-c", CHECK_KEYS).strip().splitlines()[-1].split()
    return int(count), int(bad), set(ids.split(","))


def test_rotate_kek_killed_half_way_and_run_again_loses_no_key(panel: World, tmp_path: Path) -> None:
    panel.manage("certs", "selfsigned", "--name", "mail.example.com")
    panel.manage("shell", "-c", MAKE_KEYS)
    old_id = _check_keys(panel)[2]
    new = os.urandom(32)
    new_file = tmp_path / "new.kek"
    new_file.write_text(kek_text(new) + "\n")
    args = ["manage.py", "rotate-kek", "--new-key-file", str(new_file), "--batch-size", "1", "--pause", "0.2"]
    rotation = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=panel.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert rotation.stdout is not None
        for line in rotation.stdout:
            if line.startswith("re-sealed 5 of 25"):
                rotation.send_signal(signal.SIGKILL)
                break
    finally:
        rotation.kill()
        rotation.wait()
    assert rotation.returncode == -signal.SIGKILL
    count, bad, ids = _check_keys(panel)  # the panel, between the kill and the second run
    assert (count, bad) == (25, 0) and ids == old_id | {kek_id(new).hex()}, "half re-sealed, every key opens"
    assert (panel.data_dir / "key_encryption_key.next").exists()
    out = panel.manage(*args[1:-4])
    assert f"done: every key (25) is sealed under key-encryption key {kek_id(new).hex()}" in out
    assert _check_keys(panel) == (25, 0, {kek_id(new).hex()})
    assert keystore.decode_kek((panel.data_dir / "key_encryption_key").read_text()) == new
    assert not (panel.data_dir / "key_encryption_key.next").exists()


@pytest.mark.django_db
def test_a_queued_registrations_eab_secret_is_resealed_too(data_dir: Path) -> None:
    """The EAB HMAC of a registration still waiting for a worker is sealed under the KEK: after the rotation it
    opens with the new key, or the worker could not register the account once the old key is gone."""
    expected = _keys(2)
    hmac = b"c2VjcmV0LWhtYWMta2V5LWZyb20tdGhlLWNh"
    queued = AcmeRegistration.objects.create(
        directory_url="https://acme.example.net/directory",
        eab_kid="kid-1",
        eab_hmac_sealed=keystore.seal(hmac, kek=keystore.current_kek()),
    )
    ended = AcmeRegistration.objects.create(directory_url="https://acme.example.net/directory")  # erased: skipped
    new = os.urandom(32)
    done = kek_rotate(new)
    assert (done.keys, done.resealed) == (3, 3)
    _finished(data_dir, new, expected)
    queued.refresh_from_db()
    assert keystore.unseal(bytes(queued.eab_hmac_sealed), kek=new) == hmac
    ended.refresh_from_db()
    assert bytes(ended.eab_hmac_sealed) == b""
