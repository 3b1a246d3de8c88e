"""The audit log: actions write their row in their own transaction, logins come from auth's signals, and /audit/
shows them filtered and paginated to everyone logged in, with no way to change one."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from certpanel.accounts import actions as accounts
from certpanel.audit.actions import AuditAction, audit_record
from certpanel.audit.origin import acting_as
from certpanel.models import AuditEvent
from certpanel.roles import Role
from repository.actions import certificate_create_self_signed
from repository.models import Certificate
from services.models import Listener

ROOT = Path(__file__).resolve().parents[2]
LISTENER = {"name": "Custom", "protocol": "imaps", "host": "127.0.0.1", "port": "10993"}


def _rows(*actions: str) -> list[tuple[str, str, str]]:
    events = AuditEvent.objects.filter(action__in=actions).order_by("id")
    return [(e.action, e.actor_name, e.target_label) for e in events]


def _self_signed(client: Client, host: str) -> Certificate:
    client.post("/certificates/new/self-signed/", {"hostname": host, "key_type": "ec256", "days": "30"})
    return Certificate.objects.get(name=host)


def test_create_self_signed_records_one_row_with_the_user_and_address(staff_client: Client) -> None:
    entry = _self_signed(staff_client, "mail.example.com")
    event = AuditEvent.objects.get(action="certificate_create")
    assert (event.actor.username, event.actor_name, event.target_type, event.target_id) == (
        "alice",
        "alice",
        "repository.certificate",
        str(entry.pk),
    )
    assert event.target_label == "mail.example.com" and event.ip == "127.0.0.1" and "ec256" in event.detail


def test_a_rolled_back_action_records_nothing(db: None) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        certificate_create_self_signed(hostname="gone.example.com", key_type="ec256")
        assert AuditEvent.objects.filter(action="certificate_create").count() == 1
        raise RuntimeError("the caller's transaction fails after the action")
    assert not AuditEvent.objects.exists() and not Certificate.objects.exists()


def test_actors_without_a_login_are_named_by_their_entry_point(db: None) -> None:
    assert audit_record(action=AuditAction.SETTINGS_CHANGE).actor_name == "system"
    with acting_as("cli:certs"):
        assert audit_record(action=AuditAction.SETTINGS_CHANGE).actor_name == "cli:certs"
    with pytest.raises(ValueError, match="not an audit action"):
        audit_record(action="made_up")  # type: ignore[arg-type]


def test_the_cli_is_recorded_as_its_command(cli) -> None:
    assert cli("certs", "selfsigned", "--name", "cli.example.com", "--key-type", "ec256").code == 0
    assert _rows("certificate_create") == [("certificate_create", "cli:certs", "cli.example.com")]


def test_failed_login_is_recorded_once_without_the_password(client: Client, admin_user) -> None:
    response = client.post("/login/", {"username": "alice", "password": "Wrong-Secret-42"})
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="login_failed")
    assert (event.actor, event.actor_name, event.ip) == (None, "alice", "127.0.0.1")
    stored = " ".join(str(value) for value in AuditEvent.objects.values_list("detail", "target_label", "actor_name"))
    assert "Wrong-Secret-42" not in stored
    admin_user.set_password("Right-Secret-42")
    admin_user.save()
    client.post("/login/", {"username": "alice", "password": "Right-Secret-42"})
    client.post("/logout/")
    assert _rows("login", "login_failed", "logout") == [
        ("login_failed", "alice", ""),
        ("login", "alice", "alice"),
        ("logout", "alice", "alice"),
    ]


def test_key_export_is_recorded_and_a_certificate_export_is_not(staff_client: Client) -> None:
    entry = _self_signed(staff_client, "mail.example.com")
    for export_format in ("pem", "key"):
        response = staff_client.post(f"/certificates/{entry.pk}/export/", {"export_format": export_format})
        assert response.status_code == 200
    event = AuditEvent.objects.get(action="key_export")
    assert (event.actor_name, event.target_label, event.detail) == ("alice", "mail.example.com", "Private key (PEM)")
    assert "PRIVATE KEY" not in event.detail


def test_listener_add_change_assign_deploy_delete_are_recorded(staff_client: Client) -> None:
    entry = _self_signed(staff_client, "mail.example.com")
    assert staff_client.post("/services/add/", LISTENER).status_code == 302
    listener = Listener.objects.get(name="Custom")
    staff_client.post(f"/services/{listener.pk}/edit/", {**LISTENER, "port": "10994"})
    staff_client.post(f"/services/{listener.pk}/select/", {"certificate": entry.pk})
    staff_client.post(f"/services/{listener.pk}/deploy/")
    staff_client.post(f"/services/{listener.pk}/verify/")
    staff_client.post(f"/services/{listener.pk}/delete/")
    codes = ["listener_add", "listener_change", "certificate_assign", "deployment_request", "verify_request"]
    rows = _rows(*codes, "listener_delete")
    assert [action for action, _, _ in rows] == [*codes[:4], "deployment_request", "verify_request", "listener_delete"]
    assert {(actor, label) for _, actor, label in rows} == {("alice", "Custom")}
    change = AuditEvent.objects.get(action="listener_change")
    assert change.detail == "port 10993 → 10994"
    assigned = AuditEvent.objects.get(action="certificate_assign")
    assert assigned.detail == f"mail.example.com (#{entry.pk})"


def test_settings_change_and_certificate_delete_are_recorded(staff_client: Client) -> None:
    staff_client.post("/settings/notifications/", {"notify_emails": "ops@example.com"})
    entry = _self_signed(staff_client, "old.example.com")
    staff_client.post(f"/certificates/{entry.pk}/delete/", {"confirm": "on"})
    assert _rows("settings_change", "certificate_delete") == [
        ("settings_change", "alice", ""),
        ("certificate_delete", "alice", "old.example.com"),
    ]
    assert "ops@example.com" in AuditEvent.objects.get(action="settings_change").detail
    # The deleted certificate stays readable, without a link to a page that is gone.
    page = staff_client.get("/audit/?action=certificate_delete").content.decode()
    assert "old.example.com" in page and f'href="/certificates/{entry.pk}/"' not in page


def test_the_page_filters_paginates_and_links_targets_that_exist(staff_client: Client) -> None:
    entry = _self_signed(staff_client, "mail.example.com")
    old = timezone.now() - timedelta(days=40)
    AuditEvent.objects.bulk_create(
        AuditEvent(at=old, actor_name="worker", action="deployment_request", target_label=f"listener {n}")
        for n in range(60)
    )
    first = staff_client.get("/audit/").content.decode()
    assert "Page 1 of 2" in first and f'href="/certificates/{entry.pk}/"' in first
    second = staff_client.get("/audit/?page=2").content.decode()
    assert "Page 2 of 2" in second and "listener 0<" in second
    mine = staff_client.get("/audit/", {"actor": "ALI", "action": "certificate_create"}).content.decode()
    assert "mail.example.com" in mine and "listener 1" not in mine
    by_target = staff_client.get("/audit/", {"target": "listener 59"}).content.decode()
    assert by_target.count("listener 59</td>") == 1 and "1 event" in by_target
    day = timezone.localdate(old).isoformat()
    assert "60 events" in staff_client.get("/audit/", {"date_from": day, "date_to": day}).content.decode()
    today = timezone.localdate().isoformat()
    assert "mail.example.com" in staff_client.get("/audit/", {"date_from": today}).content.decode()
    assert "No event matches" in staff_client.get("/audit/", {"actor": "nobody"}).content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "yesterday"}, "Enter a valid date."),
        ({"date_to": "9999-12-31"}, "before the year 9999"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "end date is before the start date"),
        ({"action": "drop_table"}, "Select a valid choice."),
        ({"actor": "a\x00b"}, "Null characters are not allowed."),
        ({"page": "99999999999999999999"}, "There is no page"),
        ({"page": "last"}, "There is no page"),
    ],
)
def test_bad_filter_input_gives_a_message_not_an_error(staff_client: Client, query: dict, message: str) -> None:
    response = staff_client.get("/audit/", query)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_a_read_only_user_sees_everything_and_nothing_can_be_changed(
    viewer_client: Client, staff_client: Client
) -> None:
    _self_signed(staff_client, "mail.example.com")
    page = viewer_client.get(reverse("audit"))
    assert page.status_code == 200 and "mail.example.com" in page.content.decode()
    assert '<form method="post"' not in page.content.decode().split("<main")[-1]
    assert viewer_client.post("/audit/").status_code == 405
    assert staff_client.post("/audit/", {"action": "login"}).status_code == 405
    assert staff_client.get("/admin/certpanel/auditevent/").status_code == 404
    assert Client().get("/audit/").status_code == 302  # the login page first


def _action_names_used() -> set[str]:
    """Every ``AuditAction.NAME`` in the code (mypy checks them too; this also catches unchecked modules)."""
    names: set[str] = set()
    for package in ("certpanel", "repository", "services"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "AuditAction"
                    and node.attr.isupper()
                ):
                    names.add(node.attr)
    return names


def test_every_action_code_used_is_in_the_table_and_every_code_has_a_caller() -> None:
    used = _action_names_used()
    assert used <= set(AuditAction.names), used - set(AuditAction.names)
    assert used == set(AuditAction.names), set(AuditAction.names) - used  # every code has a caller
    assert all(re.fullmatch(r"[a-z0-9_]{1,40}", code) for code in AuditAction.values)
    assert get_user_model()  # the actor model the table points at


def test_a_locked_out_login_is_recorded_once_per_attempt(client: Client, admin_user, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(3):
        client.post("/login/", {"username": "alice", "password": "Wrong-Secret-42"})
    details = list(AuditEvent.objects.filter(action="login_failed").order_by("id").values_list("detail", flat=True))
    assert details == ["wrong user name or password", *["refused: too many failed logins (locked out)"] * 2]


def test_password_change_and_a_cli_two_factor_reset_are_recorded(admin_user, cli) -> None:
    admin_user.set_password("Old-Secret-42")
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    form = {"old_password": "Old-Secret-42", "new_password1": "New-Secret-4242", "new_password2": "New-Secret-4242"}
    response = client.post("/password/", form)
    assert response.status_code == 302 and response["Location"] == "/"
    TOTPDevice.objects.create(user=admin_user, name="authenticator", confirmed=True)
    assert cli("twofa", "reset", "alice").code == 0
    assert _rows("password_change", "twofactor_reset") == [
        ("password_change", "alice", "alice"),
        ("twofactor_reset", "cli:twofa", "alice"),
    ]
    assert "Secret" not in " ".join(AuditEvent.objects.values_list("detail", flat=True))


def test_user_changes_are_recorded_with_the_admin_who_made_them(admin_user) -> None:
    bob = accounts.user_create(
        username="bob", email="", role=Role.OPERATOR, password="Long-Enough-Pass-42", by=admin_user
    )
    accounts.user_set_role(user_id=bob.pk, role=Role.READ_ONLY, by=admin_user)
    accounts.user_password_reset(user_id=bob.pk, password="Another-Long-Pass-42", by=admin_user)
    accounts.user_deactivate(user_id=bob.pk, by=admin_user)
    accounts.user_activate(user_id=bob.pk, by=admin_user)
    codes = ["user_add", "user_change", "user_password_reset", "user_deactivate", "user_activate"]
    assert _rows(*codes) == [(code, "alice", "bob") for code in codes]
    assert "Pass-42" not in " ".join(AuditEvent.objects.values_list("detail", flat=True))
