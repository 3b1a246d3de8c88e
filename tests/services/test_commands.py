"""No shell from the browser (issue 9): a listener's commands come from a fixed set of named actions, or from the
host's CLI; they run as argument lists; their output is redacted and shown to staff only. Each test tries the
attack: a staff session posting a command, a command smuggling shell syntax, a read-only user looking for the
output of `cat key_encryption_key`."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from repository.actions import certificate_create_self_signed
from repository.models import Certificate
from services.actions import listener_create, listener_deploy, listener_update
from services.daemons import ACTIONS, ADAPTERS, action_for
from services.deploy import known_secrets, listener_commands
from services.errors import ListenerError
from services.models import Deployment, Listener
from services.redaction import redact
from tests.support.factories import ec_key, key_pem

EVIL = "touch /tmp/certpanel-pwned; cat /etc/shadow"
FORM = {"name": "Custom", "protocol": "imaps", "host": "127.0.0.1", "port": "10993"}


def _certificate() -> Certificate:
    return certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")


# -- the named actions ------------------------------------------------------------------------------------
def test_every_daemon_action_is_an_argument_list_naming_a_program() -> None:
    for code, adapter in ADAPTERS.items():
        for argv in (adapter.check_cmd, adapter.reload_cmd):
            assert isinstance(argv, tuple) and all(isinstance(word, str) for word in argv), code
            assert not argv or not argv[0].endswith("sh"), f"{code} runs a shell"
    assert ACTIONS["none"].check == ACTIONS["none"].reload == ()
    assert action_for("postfix", "").reload == ("postfix", "reload")
    assert action_for("files", "").reload == (), "a files listener runs nothing unless told"
    assert action_for("files", "dovecot").reload == ("doveadm", "reload")


def test_host_set_commands_win_over_the_action_and_are_split_without_a_shell() -> None:
    listener = Listener(daemon="nginx", action="none", reload_cmd="/usr/sbin/nginx -s 'reload'")
    commands = listener_commands(listener)
    assert commands.check == () and commands.reload == ("/usr/sbin/nginx", "-s", "reload")


@pytest.mark.django_db
def test_shell_syntax_in_a_host_set_command_is_not_interpreted(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    marker = tmp_path / "pwned"
    listener = Listener.objects.create(
        name="Custom",
        protocol="imaps",
        port=1,
        daemon="files",
        certificate=_certificate(),
        check_cmd=f"echo $(id) ; touch {marker}",
    )
    deployment = listener_deploy(listener.pk)
    assert not marker.exists(), "no shell ran: `;` and `$(…)` are plain words"
    assert f"$(id) ; touch {marker}" in deployment.log
    assert deployment.status == "rolled_back"  # nothing listens on port 1


@pytest.mark.django_db
def test_a_host_set_command_that_does_not_exist_is_a_clear_failure(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    listener = Listener.objects.create(
        name="Custom", protocol="imaps", port=1, daemon="files", certificate=_certificate(), check_cmd="no-such-x"
    )
    deployment = listener_deploy(listener.pk)
    assert "check could not start no-such-x: No such file or directory" in deployment.log
    assert deployment.status == "rolled_back" and "the configuration check failed" in deployment.error


# -- no form accepts a command ----------------------------------------------------------------------------
def test_the_add_form_ignores_posted_commands(staff_client: Client) -> None:
    response = staff_client.post("/services/add/", {**FORM, "check_cmd": EVIL, "reload_cmd": EVIL})
    assert response.status_code == 302
    listener = Listener.objects.get(name="Custom")
    assert (listener.check_cmd, listener.reload_cmd) == ("", "")


def test_the_edit_form_shows_host_set_commands_read_only_and_cannot_change_them(staff_client: Client) -> None:
    listener = Listener.objects.create(
        name="Custom", protocol="imaps", port=10993, daemon="dovecot", reload_cmd="sudo -n doveadm reload"
    )
    page = staff_client.get(f"/services/{listener.pk}/edit/").content.decode()
    field = re.search(r'<input[^>]*name="reload_cmd"[^>]*>', page)
    assert field and "disabled" in field.group(0) and 'value="sudo -n doveadm reload"' in field.group(0)
    for posted in ({"check_cmd": EVIL, "reload_cmd": EVIL}, {"check_cmd": "", "reload_cmd": ""}):
        response = staff_client.post(f"/services/{listener.pk}/edit/", {**FORM, "action": "none", **posted})
        assert response.status_code == 302
        listener.refresh_from_db()
        assert (listener.check_cmd, listener.reload_cmd) == ("", "sudo -n doveadm reload")
        assert listener.action == "none"
    detail = staff_client.get(f"/services/{listener.pk}/").content.decode()
    assert "sudo -n doveadm reload" in detail and "services edit" in detail


def test_an_action_outside_the_fixed_set_is_refused(staff_client: Client) -> None:
    response = staff_client.post("/services/add/", {**FORM, "action": EVIL})
    assert "Select a valid choice" in response.content.decode()
    assert not Listener.objects.exists()


@pytest.mark.django_db
def test_the_actions_the_web_calls_refuse_commands() -> None:
    with pytest.raises(ListenerError, match="cannot be set here: check_cmd"):
        listener_create(name="X", protocol="imaps", host="127.0.0.1", port=993, check_cmd=EVIL)
    listener = listener_create(name="X", protocol="imaps", host="127.0.0.1", port=993)
    with pytest.raises(ListenerError, match="cannot be set here: reload_cmd"):
        listener_update(listener, reload_cmd=EVIL)
    listener.refresh_from_db()
    assert listener.reload_cmd == ""


def test_a_read_only_user_cannot_edit_at_all(viewer_client: Client) -> None:
    listener = Listener.objects.create(name="Custom", protocol="imaps", port=10993)
    response = viewer_client.post(f"/services/{listener.pk}/edit/", {**FORM, "action": "none"})
    assert response.status_code == 403
    listener.refresh_from_db()
    assert listener.action == ""


# -- the host's CLI ---------------------------------------------------------------------------------------
def test_the_cli_sets_changes_and_clears_host_commands(cli) -> None:
    added = cli(
        "services", "add", "--name", "IMAPS", "--protocol", "imaps", "--host", "127.0.0.1", "--port", "993",
        "--check-cmd", "doveconf -n", "--reload-cmd", "sudo -n /usr/bin/doveadm reload", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    row = json.loads(added.out)
    assert (row["check_cmd"], row["reload_cmd"]) == ("doveconf -n", "sudo -n /usr/bin/doveadm reload")
    edited = cli("services", "edit", "IMAPS", "--check-cmd", "", "--action", "none", "--port", "10993")
    assert edited.code == 0, edited.err
    listener = Listener.objects.get(name="IMAPS")
    assert (listener.check_cmd, listener.reload_cmd, listener.action, listener.port) == (
        "",
        "sudo -n /usr/bin/doveadm reload",
        "none",
        10993,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--check-cmd", "echo 'unclosed"], "cannot be read (No closing quotation)"),
        (["--reload-cmd", "x" * 1001], "longer than 1000 characters"),
        (["--action", "sh"], "invalid choice: 'sh'"),
    ],
)
def test_a_bad_host_command_is_one_clear_line_and_leaves_no_row(cli, args: list[str], message: str) -> None:
    base = ["services", "add", "--name", "X", "--protocol", "imaps", "--host", "127.0.0.1", "--port", "993"]
    result = cli(*base, *args)
    assert result.code != 0 and message in result.err, result.err
    assert "Traceback" not in result.err and not Listener.objects.exists()


# -- output: redacted, and shown to staff only ------------------------------------------------------------
def test_redaction_removes_keys_secrets_and_key_like_tokens() -> None:
    key = key_pem(ec_key()).decode()
    body = key.splitlines()[1]
    text = "\n".join(
        [
            "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok",
            key,
            "tail of a key:",
            body,
            "ssl_key_password = hunter2hunter2",
            "a secret: s3cr3t-value-of-mine",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA-cut-off",
        ]
    )
    out = redact(text, ["s3cr3t-value-of-mine"])
    assert "BEGIN PRIVATE KEY" not in out and "MIIEpAIBAAKCAQEA" not in out and body not in out
    assert "hunter2hunter2" not in out and "s3cr3t-value-of-mine" not in out
    assert "/etc/nginx/nginx.conf syntax is ok" in out, "ordinary output stays readable"


def test_the_new_key_of_an_unfinished_rotation_is_redacted_too(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH = tmp_path / "key_encryption_key"
    (tmp_path / "key_encryption_key.next").write_text("words-no-pattern-would-catch\n")  # only the file tells
    assert "words-no" not in redact("cat: words-no-pattern-would-catch", known_secrets())


@pytest.mark.django_db
def test_stored_command_output_has_no_key_and_no_key_encryption_key(tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = _certificate()  # seals its key: the key-encryption key exists from here on
    kek_file = Path(settings.CERTPANEL_KEY_ENCRYPTION_KEY_PATH)
    kek = kek_file.read_text().strip()
    listener = Listener.objects.create(
        name="Custom",
        protocol="imaps",
        port=1,
        daemon="files",
        certificate=entry,
        # What the review's attacker ran, plus the key just deployed and the key in hex.
        check_cmd=shlex.join(
            ["sh", "-c", f"cat {kek_file}; cat {tmp_path}/deploy/custom/key.pem; base64 -d {kek_file} | od -An -tx1"]
        ),
        reload_cmd=shlex.join(["sh", "-c", f"echo {django_settings.SECRET_KEY}"]),
    )
    deployment = listener_deploy(listener.pk)
    stored = Deployment.objects.get(pk=deployment.pk).log
    assert kek not in stored and "PRIVATE KEY" not in stored and django_settings.SECRET_KEY not in stored
    assert "[private key redacted]" in stored and "[redacted]" in stored


def _walk(resolver: URLResolver, prefix: str = "") -> list[str]:
    found = []
    for item in resolver.url_patterns:
        if isinstance(item, URLResolver):
            found += _walk(item, prefix + str(item.pattern))
        elif isinstance(item, URLPattern):
            found.append(prefix + str(item.pattern))
    return found


def test_a_read_only_user_sees_no_command_output_on_any_page(
    viewer_client: Client, staff_client: Client, tmp_path: Path, settings
) -> None:
    """Every URL of the panel, GET and partial alike, with every id filled in: the output is not there."""
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    entry = _certificate()
    listener = Listener.objects.create(
        name="Custom",
        protocol="imaps",
        port=1,
        daemon="files",
        certificate=entry,
        check_cmd="echo command-output-marker",
    )
    deployment = listener_deploy(listener.pk)
    assert "command-output-marker" in deployment.log
    ids = {"listener_id": listener.pk, "certificate_id": entry.pk, "order_id": 1, "token": "x"}
    checked = 0
    for pattern in _walk(get_resolver()):
        if pattern.startswith(("admin/", "^static", "static/")):
            continue
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), pattern)
        if "^" in path or "(?" in path:
            continue
        for suffix in ("", "?partial=1"):
            response = viewer_client.get(path + suffix, HTTP_HX_REQUEST="true" if suffix else "")
            assert b"command-output-marker" not in response.content, path
        checked += 1
    assert checked > 10
    detail = viewer_client.get(f"/services/{listener.pk}/").content.decode()
    assert "Rolled back" in detail and "shown to staff only" in detail, "the status stays visible"
    assert "command-output-marker" in staff_client.get(f"/services/{listener.pk}/").content.decode()


# -- the upgrade ------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_upgrade_keeps_free_text_commands_working_as_host_set_ones_and_redacts_old_logs() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("services", "0003_deployment_states")], [("services", "0004_listener_actions_host_commands")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    shell = "echo reloaded >> /var/log/x; doveadm reload"
    row = old.get_model("services", "Listener").objects.create(
        name="IMAPS", protocol="imaps", port=993, daemon="dovecot", check_cmd="doveconf -n", reload_cmd=shell
    )
    key = key_pem(ec_key()).decode()
    leaked = f"check: cat key_encryption_key\n{django_settings.SECRET_KEY}\n{key}"
    old.get_model("services", "Deployment").objects.create(listener_id=row.pk, log=leaked)
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    try:
        _upgraded_commands_and_logs(row.pk, shell)
    finally:  # back to the newest schema: the tests after this one (and later migrations) expect every table
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def _upgraded_commands_and_logs(listener_id: int, shell: str) -> None:
    listener = Listener.objects.get(pk=listener_id)
    assert listener.check_cmd == "doveconf -n", "plain words stay as they were"
    assert shlex.split(listener.reload_cmd) == ["/bin/sh", "-c", shell], "runs exactly as before, in a shell"
    assert listener_commands(listener).reload == ("/bin/sh", "-c", shell)
    log = Deployment.objects.get(listener=listener).log
    assert django_settings.SECRET_KEY not in log and "PRIVATE KEY" not in log
    assert log.startswith("check: cat key_encryption_key\n[redacted]")
