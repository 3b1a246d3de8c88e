"""Key-encryption key rotation: every sealed key re-sealed under a new KEK, safe to kill at any point and run again.

`manage.py rotate-kek --new-key-file F` runs ``kek_rotate``. Each sealed blob names the KEK it was sealed under
(repository/keystore.py), so during a rotation both keys open and nothing has to happen all at once. The steps, and
what a kill after each leaves:

1. Every stored key is opened with the keys the panel has. One that does not open stops the rotation before
   anything is written. Killed here: nothing changed.
2. The new KEK is written to ``<data dir>/key_encryption_key.next`` (0600, fsynced). From then on every panel
   process seals new keys under it and opens keys under either KEK (the ring is read from disk at each use), so the
   panel keeps working whatever happens next. Killed here: running the command again goes on.
3. Every key sealed under another KEK is re-sealed under the new one, one transaction per batch, each durable
   before the next (SQLite commits with synchronous=FULL). Killed half-way: some keys under each KEK, all of them
   open; running again re-seals the rest. A last pass must find every key under the new KEK before step 4.
4. The switch. KEK in the data directory: ``key_encryption_key`` is replaced by the new key (atomically), then
   ``.next`` removed; killed in between, both hold the new key and running again removes ``.next``. KEK in the
   environment (CERTPANEL_KEY_ENCRYPTION_KEY or ``_FILE``): the panel cannot change it, so ``.next`` stays and keeps
   the panel working until the admin puts the new key there, restarts, and runs the command again, which then
   removes ``.next``.

The old KEK stays where the panel reads it until every key has been re-sealed under the new one: no kill point
leaves a key that no known KEK opens.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model, QuerySet

from certpanel.audit.actions import AuditAction, audit_record
from certpanel.files import create_atomically, fsync_path, write_atomically
from repository.errors import KeyStoreError
from repository.keystore import (
    configured_kek,
    kek_from_environment,
    kek_id,
    kek_path,
    kek_text,
    key_ring,
    next_kek_path,
    pending_kek,
    seal,
    sealed_kek_id,
    unseal,
)
from repository.models import AcmeRegistration, DnsProvider, PrivateKey

# Every column holding a blob sealed under the KEK: private keys, the EAB HMAC of a registration still queued
# (erased once the registration ends) and DNS providers' TSIG secrets. Empty blobs are skipped.
SEALED: tuple[tuple[type[Model], str], ...] = (
    (PrivateKey, "sealed_pem"),
    (AcmeRegistration, "eab_hmac_sealed"),
    (DnsProvider, "tsig_secret_sealed"),
)


def _sealed(model: type[Model], field: str) -> QuerySet[Any]:
    return model._default_manager.exclude(**{field: b""})


# A pass that still finds keys under another KEK (sealed by a process that read the ring just before step 2) is
# followed by another; more than this many means something keeps sealing under the old key.
PASSES = 3


@dataclass(frozen=True)
class Rotation:
    new_kek_id: str
    keys: int
    resealed: int
    finished: bool  # False: the KEK comes from the environment, which the admin must change (step 4)


def kek_rotate(
    new_kek: bytes, *, batch_size: int = 100, pause: float = 0.0, progress: Callable[[str], None] = lambda _: None
) -> Rotation:
    with _one_rotation_at_a_time():
        configured, pending = configured_kek(), pending_kek()
        _refuse_a_pointless_or_conflicting_rotation(new_kek, configured=configured, pending=pending)
        keks = {**key_ring().keys, kek_id(new_kek): new_kek}
        total = _check_every_key_opens(keks)
        if pending is None:
            _write_next(new_kek)
            progress(f"new keys are now sealed under key-encryption key {kek_id(new_kek).hex()}")
        resealed = 0
        for _ in range(PASSES):
            resealed += _reseal(new_kek, keks, batch_size=batch_size, pause=pause, total=total, progress=progress)
            if not _keys_under_another(kek_id(new_kek)):
                break
        else:
            raise KeyStoreError(
                "Keys sealed under the old key-encryption key keep appearing: stop the panel's processes and run "
                "rotate-kek again (nothing is lost: both keys still open every key)."
            )
        rotation = Rotation(kek_id(new_kek).hex(), total, resealed, finished=_switch(new_kek, configured=configured))
        detail = f"to key {rotation.new_kek_id}, {resealed} of {total} keys resealed"
        audit_record(action=AuditAction.KEK_ROTATE, detail=detail + ("" if rotation.finished else ", switch pending"))
        return rotation


def _refuse_a_pointless_or_conflicting_rotation(new_kek: bytes, *, configured: bytes, pending: bytes | None) -> None:
    if pending is not None and new_kek != pending:
        raise KeyStoreError(
            f"A rotation to another key-encryption key (id {kek_id(pending).hex()}, kept in {next_kek_path()}) is "
            "unfinished: run rotate-kek with that key's file to finish it first."
        )
    if pending is None and new_kek == configured:
        raise KeyStoreError(
            f"The new key file holds the key-encryption key the panel already uses (id {kek_id(new_kek).hex()}): "
            "nothing to rotate. Make a new one with `openssl rand -base64 32 > FILE`."
        )


def _check_every_key_opens(keks: dict[bytes, bytes]) -> int:
    """The number of stored keys; KeyStoreError naming the first one no known KEK opens (nothing written yet)."""
    count = 0
    for model, field in SEALED:
        rows = _sealed(model, field).order_by("pk").values_list("pk", field).iterator(chunk_size=500)
        for pk, value in rows:
            blob = bytes(value)
            count += 1
            kek = keks.get(sealed_kek_id(blob))
            try:
                if kek is None:
                    raise KeyStoreError(f"it is sealed under key-encryption key {sealed_kek_id(blob).hex()}")
                unseal(blob, kek=kek)
            except KeyStoreError as exc:
                what = "Private key" if model is PrivateKey else str(model._meta.verbose_name).capitalize()
                raise KeyStoreError(
                    f"{what} #{pk} cannot be opened with the panel's key-encryption key ({exc}); "
                    "rotating would not change that, so nothing was changed."
                ) from None
    return count


def _reseal(
    new_kek: bytes,
    keks: dict[bytes, bytes],
    *,
    batch_size: int,
    pause: float,
    total: int,
    progress: Callable[[str], None],
) -> int:
    _durable_commits()
    resealed = 0
    for model, field in SEALED:
        resealed = _reseal_column(
            model,
            field,
            new_kek,
            keks,
            batch_size=batch_size,
            pause=pause,
            done=resealed,
            total=total,
            progress=progress,
        )
    return resealed


def _reseal_column(
    model: type[Model],
    field: str,
    new_kek: bytes,
    keks: dict[bytes, bytes],
    *,
    batch_size: int,
    pause: float,
    done: int,
    total: int,
    progress: Callable[[str], None],
) -> int:
    new_id, last, resealed = kek_id(new_kek), 0, done
    while True:
        with transaction.atomic():
            rows = list(
                _sealed(model, field)
                .select_for_update()
                .filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", field)[:batch_size]
            )
            if not rows:
                return resealed
            changed = 0
            for pk, value in rows:
                blob = bytes(value)
                if sealed_kek_id(blob) != new_id:
                    plaintext = unseal(blob, kek=keks[sealed_kek_id(blob)])
                    model._default_manager.filter(pk=pk).update(**{field: seal(plaintext, kek=new_kek)})
                    changed += 1
            last = rows[-1][0]
        if changed:
            resealed += changed
            progress(f"re-sealed {resealed} of {total} keys")
            if pause:
                time.sleep(pause)


def _keys_under_another(new_id: bytes) -> bool:
    return any(
        sealed_kek_id(bytes(blob)) != new_id
        for model, field in SEALED
        for blob in _sealed(model, field).values_list(field, flat=True).iterator(chunk_size=500)
    )


def _switch(new_kek: bytes, *, configured: bytes) -> bool:
    """Make the new KEK the panel's own (step 4); False when the admin must still change the environment."""
    if kek_from_environment():
        if configured != new_kek:
            return False
    elif configured != new_kek:
        write_atomically(kek_path(), (kek_text(new_kek) + "\n").encode("ascii"), mode=0o600)
        fsync_path(kek_path().parent)
    next_kek_path().unlink(missing_ok=True)
    fsync_path(next_kek_path().parent)
    return True


def _write_next(kek: bytes) -> None:
    target = next_kek_path()
    create_atomically(target, (kek_text(kek) + "\n").encode("ascii"), mode=0o600)
    fsync_path(target.parent)


def _durable_commits() -> None:
    """On SQLite (WAL, synchronous=NORMAL) a power cut may undo the last commits: not acceptable once the old key
    may be discarded, so this connection waits for each commit to reach the disk."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:  # (a caller's transaction: tests)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=FULL")


@contextmanager
def _one_rotation_at_a_time() -> Iterator[None]:
    lock = kek_path().with_name("rotate-kek.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KeyStoreError("Another rotate-kek is running.") from None
        yield
    finally:
        os.close(fd)
