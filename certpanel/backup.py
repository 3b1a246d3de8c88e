"""Backup and restore of the whole panel in one file (`manage.py backup` / `restore`; the file: backup_file.py).

What a backup holds: every row of every installed app (certificates, keys, ACME accounts and orders with their
events, listeners, deployments with their logs, key-export records, notifications, panel settings, users with their
password hashes and groups, the admin's change log, and the second-factor devices of whichever django-otp plugins
are installed), except ``NOT_BACKED_UP``: rows that describe one host's processes (heartbeats, a broker outage,
login lockouts), sessions, and what ``migrate`` creates itself (content types and permissions, which rows name by
natural key because their ids differ between installs).

Keys stay sealed under the key-encryption key (KEK) as they are in the database; the body, which also holds
password hashes and TOTP secrets, is sealed under a key derived from the same KEK. So a backup restores only where
that KEK is (refused, with its id, anywhere else), and a changed byte is refused. A backup is made only when every
key is sealed under the KEK the panel seals with (not half-way through a rotation).

Restore is all or nothing: one transaction, after the whole file was read, checked and every key in it opened.
It needs the same database schema as the backup (the same panel version: the migrations are compared), and an
empty panel unless ``replace`` is given, which deletes the panel's rows (and logs everyone out) first, in the
same transaction.

A wiring module (tests/test_import_graph.py): a backup spans both apps and the KEK, so it sits with urls and
bootstrap; neither app knows it exists. Models are taken from Django's app registry, not imported.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist, ValidationError
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.serializers.python import Serializer as PythonSerializer
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from certpanel import backup_file
from certpanel.backup_file import BackupError
from repository.errors import KeyStoreError
from repository.keystore import KeyRing, backup_open, backup_seal, kek_id, kek_path, key_ring, sealed_kek_id

# Not in a backup, and never written by a restore.
NOT_BACKED_UP = {
    "contenttypes.contenttype": "created by migrate; rows name content types by natural key",
    "auth.permission": "created by migrate; rows name permissions by natural key",
    "sessions.session": "logins: a restored panel starts with everyone logged out",
    "certpanel.heartbeat": "when this host's worker last reported",
    "certpanel.brokeroutage": "this host's work queue",
}
NOT_BACKED_UP_APPS = {"axes": "login failures and lockouts of this host"}
# Rows name these by natural key; everything else by primary key (kept as it was, so references hold).
BY_NATURAL_KEY = (ContentType, Permission)
SEALED_KEY = "repository.privatekey"
# What a row of a damaged or crafted file can raise while it is turned into a model and saved.
RESTORE_ERRORS = (
    DeserializationError,
    ObjectDoesNotExist,
    FieldDoesNotExist,
    ValidationError,
    DatabaseError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
)


def backed_up_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models()
        if model._meta.label_lower not in NOT_BACKED_UP
        and model._meta.app_label not in NOT_BACKED_UP_APPS
        and model._meta.managed
        and not model._meta.proxy
    ]


def backup_create() -> tuple[bytes, dict[str, Any]]:
    """The backup file's bytes and its header. BackupError when a key is not sealed under the panel's KEK."""
    ring = key_ring()
    chosen = backed_up_models()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # inside a caller's transaction (tests), that one decides what is seen
            _one_snapshot()
        rows = [row for model in chosen for row in _rows(model)]
    _check_keys(rows, ring, made_here=True)
    body = json.dumps(rows, cls=_Encoder, separators=(",", ":")).encode("utf-8")
    if len(body) > settings.CERTPANEL_BACKUP_MAX_BYTES:
        raise BackupError(
            f"The backup would be {len(body)} bytes, more than CERTPANEL_BACKUP_MAX_BYTES "
            f"({settings.CERTPANEL_BACKUP_MAX_BYTES}): raise it (restoring needs the same setting)."
        )
    packed = backup_file.compress(body)
    header = {
        "format": backup_file.FORMAT,
        "format_version": backup_file.FORMAT_VERSION,
        "panel_version": backup_file.panel_version(),
        "created_at": timezone.now().isoformat(),
        "kek_id": kek_id(ring.sealing).hex(),
        "database": connection.vendor,
        "migrations": _applied_migrations(chosen),
        "counts": _counts(rows),
        "body_bytes": 12 + len(packed) + 16,  # nonce, ciphertext, tag
    }
    line = backup_file.header_line(header)
    sealed = backup_seal(packed, header=line, kek=ring.sealing)
    return line + b"\n" + sealed, header


def backup_restore(data: bytes, *, replace: bool = False) -> dict[str, int]:
    """Restore a backup's rows, all or nothing; the counts restored. BackupError (nothing written) otherwise."""
    header, line, sealed = backup_file.split(data)
    ring = _ring_that_opens(header["kek_id"])
    try:
        packed = backup_open(sealed, header=line, kek=ring.keys[bytes.fromhex(header["kek_id"])])
    except KeyStoreError as exc:
        raise BackupError(str(exc)) from None
    rows = _parse(backup_file.decompress(packed, limit=settings.CERTPANEL_BACKUP_MAX_BYTES))
    chosen = backed_up_models()
    _check_rows(rows, header, chosen)
    _check_schema(header, chosen)
    _check_keys(rows, ring, made_here=False)
    try:
        with transaction.atomic():
            _check_empty(chosen, replace=replace)
            if replace:
                _delete_everything(chosen)
            _load(rows, chosen)
    except RESTORE_ERRORS as exc:
        raise BackupError(f"The backup's rows cannot be restored, nothing was written: {_first_line(exc)}") from None
    return dict(header["counts"])


def counts_in_words(counts: dict[str, int]) -> str:
    """``{"repository.certificate": 3, …}`` as "3 certificates, …" (models this panel does not have by label)."""
    words = []
    for label, count in sorted(counts.items()):
        try:
            meta = apps.get_model(label)._meta
            name = str(meta.verbose_name if count == 1 else meta.verbose_name_plural)
        except (LookupError, ValueError):
            name = label
        words.append(f"{count} {name}")
    return ", ".join(words) or "nothing"


class _NaturalKeysForMigrateRows(PythonSerializer):
    """Primary keys everywhere, except towards content types and permissions (``BY_NATURAL_KEY``)."""

    def handle_fk_field(self, obj: models.Model, field: Any) -> None:
        self.use_natural_foreign_keys = issubclass(field.remote_field.model, BY_NATURAL_KEY)
        super().handle_fk_field(obj, field)

    def handle_m2m_field(self, obj: models.Model, field: Any) -> None:
        self.use_natural_foreign_keys = issubclass(field.remote_field.model, BY_NATURAL_KEY)
        super().handle_m2m_field(obj, field)


class _Encoder(DjangoJSONEncoder):
    """Times to the microsecond (DjangoJSONEncoder keeps milliseconds): a restore gives back what was there."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            return o.isoformat()
        return super().default(o)


def _one_snapshot() -> None:
    """Every table read as of one moment (SQLite: the transaction already holds the write lock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _rows(model: type[models.Model]) -> list[dict[str, Any]]:
    rows = model._base_manager.order_by("pk").iterator(chunk_size=2000)
    serialized: list[dict[str, Any]] = _NaturalKeysForMigrateRows().serialize(rows)
    return serialized


def _counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["model"]] = counts.get(row["model"], 0) + 1
    return counts


def _applied_migrations(chosen: list[type[models.Model]]) -> dict[str, list[str]]:
    labels = {model._meta.app_label for model in chosen}
    applied = MigrationLoader(connection, ignore_no_migrations=True).applied_migrations or {}
    return {label: sorted(name for app, name in applied if app == label) for label in sorted(labels)}


def _ring_that_opens(backup_kek_id: str) -> KeyRing:
    try:
        ring = key_ring(create=False)
    except KeyStoreError as exc:
        raise BackupError(f"{exc} Restoring needs the key this backup was made under (id {backup_kek_id}).") from None
    if bytes.fromhex(backup_kek_id) not in ring.keys:
        raise BackupError(
            f"this backup was made under another key-encryption key: its id is {backup_kek_id}, this panel's is "
            f"{kek_id(ring.sealing).hex()}. Give the panel the key the backup was made under "
            f"(CERTPANEL_KEY_ENCRYPTION_KEY, or the file {kek_path()}), then restore; nothing was written."
        )
    return ring


def _parse(body: bytes) -> list[dict[str, Any]]:
    try:
        rows = json.loads(body)
    except (ValueError, RecursionError):
        raise BackupError("The backup's body is damaged (not JSON).") from None
    if not isinstance(rows, list) or not all(
        isinstance(row, dict)
        and isinstance(row.get("model"), str)
        and isinstance(row.get("pk"), int | str)
        and isinstance(row.get("fields"), dict)
        for row in rows
    ):
        raise BackupError("The backup's body is damaged (rows are not model, pk and fields).")
    return rows


def _check_rows(rows: list[dict[str, Any]], header: dict[str, Any], chosen: list[type[models.Model]]) -> None:
    allowed = {model._meta.label_lower for model in chosen}
    foreign = sorted({row["model"] for row in rows} - allowed)
    if foreign:
        raise BackupError(f"The backup holds rows this panel never backs up or does not have: {', '.join(foreign)}.")
    if _counts(rows) != header["counts"]:
        raise BackupError("The backup's rows do not match the counts in its header.")


def _check_schema(header: dict[str, Any], chosen: list[type[models.Model]]) -> None:
    if "django_migrations" not in connection.introspection.table_names():
        raise BackupError("This database has no panel tables yet: run `manage.py migrate` first, then restore.")
    ours, theirs = _applied_migrations(chosen), header["migrations"]
    missing = sorted(f"{app}.{name}" for app, names in theirs.items() for name in set(names) - set(ours.get(app, [])))
    extra = sorted(f"{app}.{name}" for app, names in ours.items() for name in set(names) - set(theirs.get(app, [])))
    version = header["panel_version"]
    if missing:
        raise BackupError(
            f"This backup was made with database migrations this panel has not applied ({', '.join(missing[:3])}): "
            f"run `manage.py migrate`, or install the panel version that made it ({version}), then restore."
        )
    if extra:
        raise BackupError(
            f"This backup was made by panel version {version}, before migrations {', '.join(extra[:3])}: restore "
            "it with that version on a fresh database, then upgrade the panel."
        )


def _check_keys(rows: list[dict[str, Any]], ring: KeyRing, *, made_here: bool) -> None:
    """Every key opens (AES-GCM checks each one), and a new backup's keys are all under the sealing KEK."""
    for row in rows:
        if row["model"] != SEALED_KEY:
            continue
        try:
            blob = base64.b64decode(row["fields"].get("sealed_pem") or "", validate=True)
            if made_here and sealed_kek_id(blob) != kek_id(ring.sealing):
                raise BackupError(
                    f"Private key #{row.get('pk')} is sealed under key-encryption key {sealed_kek_id(blob).hex()}, "
                    f"not {kek_id(ring.sealing).hex()}: a key rotation is unfinished. Run rotate-kek to finish it, "
                    "then back up."
                )
            ring.open(blob)
        except (binascii.Error, ValueError, KeyStoreError) as exc:
            where = "" if made_here else " in the backup"
            raise BackupError(f"Private key #{row.get('pk')}{where} cannot be opened: {exc}") from None


def _check_empty(chosen: list[type[models.Model]], *, replace: bool) -> None:
    if replace:
        return
    found = [(model, model._base_manager.count()) for model in chosen]
    found = [(model, count) for model, count in found if count]
    if found:
        what = ", ".join(
            f"{count} {model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural}"
            for model, count in found[:4]
        )
        raise BackupError(
            f"This panel is not empty ({what}{', …' if len(found) > 4 else ''}): restore onto a freshly migrated "
            "database, or add --replace to delete everything the panel holds first; nothing was written."
        )


def _tables(chosen: list[type[models.Model]]) -> list[str]:
    tables = [model._meta.db_table for model in chosen]
    for model in chosen:
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            if through is not None and through._meta.auto_created:  # a model of its own is in ``chosen``
                tables.append(through._meta.db_table)
    return tables


def _delete_everything(chosen: list[type[models.Model]]) -> None:
    """The panel's rows and its sessions, in the restore's transaction (rolled back with it)."""
    statements = connection.ops.sql_flush(no_style(), [*_tables(chosen), "django_session"], allow_cascade=False)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _load(rows: list[dict[str, Any]], chosen: list[type[models.Model]]) -> None:
    """loaddata's way: raw saves (timestamps kept as they were), references checked once all rows are in."""
    with connection.constraint_checks_disabled():
        for restored in serializers.deserialize("python", rows):
            restored.save()
    connection.check_constraints(table_names=_tables(chosen))
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), chosen):
            cursor.execute(statement)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
