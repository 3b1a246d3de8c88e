"""A panel with one of everything a backup must keep, and the checks that it was kept.

Used in-process and in a child panel (`manage.py shell -c "from tests.support.panel_contents import seed; seed()"`),
so both worlds hold the same kinds of rows: certificates (one key behind a passphrase), the daemon's copy of that
key on a listener and on an SNI name, an ACME account with a sealed key, an order with its events, a deployment with
its log, a key-export record, a notification, panel settings, users with a group and permissions, and an admin
log entry.
"""

from __future__ import annotations

import json

from cryptography import x509
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from certpanel.models import Notification
from repository.actions import certificate_create_self_signed
from repository.keystore import key_load, key_store, sealed_kek_id, spki_sha256
from repository.models import (
    AcmeAccount,
    AcmeOrder,
    AcmeOrderEvent,
    Certificate,
    KeyExport,
    PanelSettings,
    PrivateKey,
)
from services.actions import listener_assign, listeners_ensure_defaults
from services.models import Deployment, Listener
from tests.support.factories import ec_key

PASSPHRASE = b"correct horse"
VIEWER_PASSWORD = "a long password for victor"


def seed() -> None:
    admin = User.objects.create_superuser("alice", password="a long password for alice")
    viewer = User.objects.create_user("victor", password=VIEWER_PASSWORD)
    group = Group.objects.create(name="auditors")
    group.permissions.add(Permission.objects.get(codename="view_certificate"))
    viewer.groups.add(group)
    viewer.user_permissions.add(Permission.objects.get(codename="view_listener"))
    main = certificate_create_self_signed(hostname="mail.example.com", sans=["smtp.example.com"], user=admin)
    locked = certificate_create_self_signed(hostname="imap.example.com", key_type="ec256", passphrase=PASSPHRASE)
    listeners_ensure_defaults(main)
    listener_assign(Listener.objects.get(name="IMAPS"), locked.pk, passphrase=PASSPHRASE)
    smtps = Listener.objects.get(name="SMTPS")
    listener_assign(smtps, locked.pk, sni_name="mail.customer.example", passphrase=PASSPHRASE)
    account = AcmeAccount.objects.create(
        name="Test CA",
        directory_url="https://ca.example.net/directory",
        email="admin@example.com",
        key=key_store(ec_key()),
        uri="https://ca.example.net/acct/1",
        profiles={"classic": "the usual"},
    )
    order = AcmeOrder.objects.create(
        account=account, hostnames=["mail.example.com"], key_type="ec256", status="failed", error="rate limited"
    )
    for status in ("queued", "order_created", "failed"):
        AcmeOrderEvent.objects.create(order=order, status=status, message=f"now {status}")
    smtp = Listener.objects.get(name="SMTP")
    Deployment.objects.create(
        listener=smtp,
        certificate=main,
        fingerprint_sha256=main.fingerprint_sha256,
        status="succeeded",
        log="writing files\nchecking\nreloading\nverified",
        finished_at=timezone.now(),
    )
    KeyExport.objects.create(certificate=main, user=admin, actor="alice", export_format="pkcs12")
    Notification.objects.create(
        kind="test", message_id="<1@panel.test>", recipients=["ops@example.com"], subject="hi", body_text="hello"
    )
    panel = PanelSettings.load()
    panel.notify_emails = "ops@example.com"
    panel.save()
    LogEntry.objects.create(
        user=admin,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(viewer.pk),
        object_repr="victor",
        action_flag=ADDITION,
    )


def check() -> dict[str, object]:
    """What must survive a restore, as JSON-able values; every key is opened (with the passphrase where it has
    one) and must be the one its row names, and every certificate's key must match the certificate."""
    for row in key_rows():
        key = key_load(row, passphrase=PASSPHRASE if row.has_passphrase else None)
        assert spki_sha256(key.public_key()) == row.public_key_sha256, f"key #{row.pk} is not the stored one"
    for entry in Certificate.objects.exclude(key=None):
        leaf = x509.load_pem_x509_certificate(entry.certificate_pem.encode())
        assert entry.key is not None and spki_sha256(leaf.public_key()) == entry.key.public_key_sha256
    viewer = User.objects.get(username="victor")
    return {
        "fingerprints": sorted(Certificate.objects.values_list("fingerprint_sha256", flat=True)),
        "keys": len(key_rows()),
        "kek_ids": sorted({sealed_kek_id(row.sealed_pem).hex() for row in key_rows()}),
        "viewer_password_ok": viewer.check_password(VIEWER_PASSWORD),
        "viewer_permissions": sorted(viewer.get_all_permissions()),
        "listeners": list(
            Listener.objects.order_by("name").values_list("name", "port", "certificate__fingerprint_sha256")
        ),
        "accounts": list(AcmeAccount.objects.values_list("name", "uri", "key__public_key_sha256")),
        "events": list(AcmeOrderEvent.objects.order_by("pk").values_list("status", "message")),
        "deployment_logs": list(Deployment.objects.values_list("log", flat=True)),
    }


def key_rows() -> list[PrivateKey]:
    return list(PrivateKey.objects.order_by("pk"))


def print_check() -> None:
    """For a child panel: the check's result as one JSON line on stdout."""
    print(json.dumps(check(), default=list))
