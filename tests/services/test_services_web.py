"""The services page and CLI without daemons: defaults, Change → Select → passphrase → Save, bad input, and
a deployment whose verification fails rolling back."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from repository.models import Certificate
from services.models import Deployment, Listener, SniCertificate


def _self_signed(client: Client, host: str, **extra: str) -> Certificate:
    client.post("/certificates/new/self-signed/", {"hostname": host, "key_type": "ec256", "days": "30", **extra})
    return Certificate.objects.get(name=host)


def test_first_start_lists_the_twelve_secure_listeners_on_the_panel_certificate(cli, settings) -> None:
    settings.CERTPANEL_HOSTNAME = "mail.example.com"
    cli("bootstrap")
    listed = json.loads(cli("services", "list", "--json").out)
    assert [(item["name"], item["port"]) for item in listed] == [
        ("FTP", 21),
        ("SMTP", 25),
        ("POP3", 110),
        ("IMAP", 143),
        ("LDAP", 389),
        ("Webmail HTTPS", 443),
        ("SMTPS", 465),
        ("Submission", 587),
        ("LDAPS", 636),
        ("FTPS", 990),
        ("IMAPS", 993),
        ("POP3S", 995),
    ]
    default = Certificate.objects.get(is_default=True)
    assert all(item["certificate_id"] == default.pk for item in listed)
    assert {item["daemon"] for item in listed} == {"postfix", "dovecot", "nginx", "vsftpd", "slapd"}


def test_change_select_passphrase_save(staff_client: Client) -> None:
    protected = _self_signed(staff_client, "mail.example.com", passphrase="sesame-1", passphrase_confirm="sesame-1")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot")
    page = staff_client.get(f"/services/{listener.pk}/select/").content.decode()
    assert "mail.example.com" in page and "Select" in page
    prompt = staff_client.get(f"/services/{listener.pk}/select/?certificate={protected.pk}").content.decode()
    assert "Passphrase" in prompt and "Daemons cannot ask for it" in prompt
    wrong = staff_client.post(f"/services/{listener.pk}/select/", {"certificate": protected.pk, "passphrase": "x"})
    assert "Wrong passphrase" in wrong.content.decode()
    listener.refresh_from_db()
    assert listener.certificate is None
    missing = staff_client.post(f"/services/{listener.pk}/select/", {"certificate": protected.pk})
    assert "protected by a passphrase" in missing.content.decode()
    done = staff_client.post(
        f"/services/{listener.pk}/select/", {"certificate": protected.pk, "passphrase": "sesame-1"}
    )
    assert done.status_code == 302
    listener.refresh_from_db()
    assert listener.certificate_id == protected.pk
    assert listener.deploy_key is not None and not listener.deploy_key.has_passphrase
    assert b"PRIVATE KEY" not in bytes(listener.deploy_key.sealed_pem)


def test_sni_certificates_are_listed_and_protect_their_certificate(staff_client: Client) -> None:
    main = _self_signed(staff_client, "mail.example.com")
    customer = _self_signed(staff_client, "mail.customer.example")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot", certificate=main)
    staff_client.post(
        f"/services/{listener.pk}/select/", {"certificate": customer.pk, "sni_name": "Mail.Customer.Example"}
    )
    assert SniCertificate.objects.get().server_name == "mail.customer.example"
    detail = staff_client.get(f"/services/{listener.pk}/").content.decode()
    assert "local_name mail.customer.example {" in detail
    assert "IMAPS (mail.customer.example)" in staff_client.get("/certificates/").content.decode()
    staff_client.post(f"/certificates/{customer.pk}/delete/", {"confirm": "on"})
    assert Certificate.objects.filter(pk=customer.pk).exists(), "in use for an SNI name: not deleted"


def test_save_queues_a_deployment_and_removing_an_sni_name_queues_another(staff_client: Client) -> None:
    main = _self_signed(staff_client, "mail.example.com")
    customer = _self_signed(staff_client, "mail.customer.example")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot", certificate=main)
    saved = staff_client.post(
        f"/services/{listener.pk}/select/", {"certificate": customer.pk, "sni_name": "mail.customer.example"}
    )
    assert saved.status_code == 302 and saved["Location"] == f"/services/{listener.pk}/"
    removed = staff_client.post(f"/services/{listener.pk}/sni/remove/", {"sni_name": "mail.customer.example"})
    assert removed.status_code == 302 and removed["Location"] == f"/services/{listener.pk}/"
    assert not SniCertificate.objects.exists()
    triggers = list(Deployment.objects.filter(listener=listener).order_by("pk").values_list("trigger", flat=True))
    assert triggers == ["assigned", "sni removed"]


def test_select_ignores_a_certificate_parameter_that_is_no_id(staff_client: Client) -> None:
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot")
    for value in ("abc", "999999"):
        page = staff_client.get(f"/services/{listener.pk}/select/?certificate={value}")
        assert page.status_code == 200 and "Passphrase" not in page.content.decode()


def test_removing_a_listener_leaves_its_files_and_says_so(staff_client: Client) -> None:
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot")
    response = staff_client.post(f"/services/{listener.pk}/delete/", follow=True)
    assert response.redirect_chain == [("/services/", 302)]
    assert "Removed IMAPS (its files on disk were left in place)." in response.content.decode()
    assert not Listener.objects.filter(pk=listener.pk).exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"port": "70000"}, "less than or equal to 65535"),
        ({"host": "bad host!"}, "is not a valid hostname"),
        ({"fullchain_path": "relative/path.pem"}, "must be an absolute path"),
        ({"name": "IMAPS"}, "already exists"),
    ],
)
def test_add_listener_rejects_bad_input(staff_client: Client, fields: dict[str, str], message: str) -> None:
    Listener.objects.create(name="IMAPS", protocol="imaps", port=993)
    data = {"name": "Custom", "protocol": "imaps", "host": "127.0.0.1", "port": "10993", **fields}
    response = staff_client.post("/services/add/", data)
    assert message in response.content.decode()
    assert Listener.objects.count() == 1


def test_a_deployment_whose_port_serves_nothing_rolls_back(staff_client: Client, tmp_path: Path, settings) -> None:
    from services.actions import listener_deploy
    from tests.support.processes import free_port

    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path)
    first, second = _self_signed(staff_client, "mail.example.com"), _self_signed(staff_client, "new.example.com")
    fullchain = tmp_path / "fullchain.pem"
    fullchain.write_bytes(b"previous fullchain")
    listener = Listener.objects.create(
        name="Custom",
        protocol="imaps",
        port=free_port(),
        daemon="files",
        fullchain_path=str(fullchain),
        certificate=second,
        reload_cmd=shlex.join(["sh", "-c", f"echo reloaded >> {tmp_path / 'reloads'}"]),
    )
    deployment = listener_deploy(listener.pk)
    assert deployment.status == "rolled_back"
    assert fullchain.read_bytes() == b"previous fullchain"
    assert (tmp_path / "reloads").read_text().count("reloaded") == 2, "reloaded, then reloaded after the rollback"
    assert "connection refused" in deployment.log and "restored the previous files" in deployment.log
    assert first.pk != second.pk


def test_a_failing_check_command_rolls_back_before_reloading(staff_client: Client, tmp_path: Path, settings) -> None:
    from services.actions import listener_deploy

    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path)
    entry = _self_signed(staff_client, "mail.example.com")
    listener = Listener.objects.create(
        name="Custom",
        protocol="imaps",
        port=1,
        daemon="files",
        certificate=entry,
        check_cmd=shlex.join(["sh", "-c", "echo 'syntax error in ssl.conf' >&2; exit 1"]),
        reload_cmd=f"touch {tmp_path / 'reloaded'}",
    )
    deployment = listener_deploy(listener.pk)
    assert deployment.status == "rolled_back"
    assert "syntax error in ssl.conf" in deployment.log
    assert not list(tmp_path.glob("custom/*.pem")), "files that did not exist before are removed again"
    assert Deployment.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["services", "add", "--name", "X", "--protocol", "imaps", "--host", "127.0.0.1", "--port", "0"],
            "is not a port number",
        ),
        (["services", "assign", "Nope", "1"], "There is no listener 'Nope'"),
        (["services", "deploy"], "give a listener name or --all"),
        (["services", "verify", "Nope"], "There is no listener 'Nope'"),
    ],
)
def test_services_cli_errors_are_one_line(cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.code == 1 and message in result.error_line, result.err


def test_verify_button_queues_the_probe_and_the_worker_reports_an_unreachable_port(
    staff_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from services.tasks import verify_listeners_task
    from tests.support.processes import free_port

    entry = _self_signed(staff_client, "mail.example.com")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=free_port(), certificate=entry)
    with django_capture_on_commit_callbacks() as queued:  # not run: no worker here, nothing left on the broker
        response = staff_client.post(f"/services/{listener.pk}/verify/", follow=True)
    page = response.content.decode()
    assert "Verification of IMAPS queued" in page and "verification queued" in page
    listener.refresh_from_db()
    assert listener.verify_queued_at is not None and listener.last_verified_at is None, "no probe in the request"
    assert len(queued) == 1

    verify_listeners_task.apply(args=[[listener.pk]]).get()  # what the worker runs
    page = staff_client.get(f"/services/{listener.pk}/").content.decode()
    assert "connection refused" in page and "verification queued" not in page
    listener.refresh_from_db()
    assert listener.last_verify_ok is False and listener.last_report[0]["port"] == listener.port
    assert "problem" in staff_client.get("/services/").content.decode()


def test_verify_is_for_staff_only(staff_client: Client, viewer_client: Client) -> None:
    entry = _self_signed(staff_client, "mail.example.com")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=1, certificate=entry)
    for url in (f"/services/{listener.pk}/verify/", "/services/verify/"):
        response = viewer_client.post(url)
        assert response.status_code == 403, url
    listener.refresh_from_db()
    assert listener.verify_queued_at is None
    assert "Verify" not in viewer_client.get(f"/services/{listener.pk}/").content.decode()


# -- re-authentication before a listener's paths or actions change (issue 9) --------------------------------
def test_changing_paths_or_actions_from_a_stale_session_asks_first_and_keeps_the_form(
    staff_client: Client, deploy_roots: str
) -> None:
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot")
    session = staff_client.session
    session["certpanel_reauth_at"] -= 301
    session.save()
    form = {"name": "IMAPS", "protocol": "imaps", "host": "127.0.0.1", "port": "993", "daemon": "dovecot"}
    key_path = f"{deploy_roots}/imaps/key.pem"
    asked = staff_client.post(f"/services/{listener.pk}/edit/", {**form, "key_path": key_path, "action": "none"})
    page = asked.content.decode()
    assert asked.status_code == 200 and "Confirm it's you" in page and "nothing was saved yet" in page
    assert f'value="{key_path}"' in page, "what the admin typed is kept"
    listener.refresh_from_db()
    assert (listener.key_path, listener.action) == ("", "")
    staff_client.post(f"/services/{listener.pk}/edit/", {**form, "key_path": key_path, "reauth_secret": "guess"})
    listener.refresh_from_db()
    assert listener.key_path == ""
    done = staff_client.post(
        f"/services/{listener.pk}/edit/",
        {**form, "key_path": key_path, "action": "none", "reauth_secret": "not-used-here"},
    )
    assert done.status_code == 302
    listener.refresh_from_db()
    assert (listener.key_path, listener.action) == (key_path, "none")


def test_other_listener_changes_need_no_reauthentication(staff_client: Client) -> None:
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="dovecot")
    session = staff_client.session
    session["certpanel_reauth_at"] -= 301
    session.save()
    form = {"name": "IMAPS", "protocol": "imaps", "host": "127.0.0.1", "port": "10993", "daemon": "dovecot"}
    assert staff_client.post(f"/services/{listener.pk}/edit/", form).status_code == 302
    listener.refresh_from_db()
    assert listener.port == 10993
    added = staff_client.post("/services/add/", {**form, "name": "New", "key_path": "/etc/ssl/private/new.pem"})
    assert "Confirm it's you" in added.content.decode() and not Listener.objects.filter(name="New").exists()
