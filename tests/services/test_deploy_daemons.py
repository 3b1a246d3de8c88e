"""Deployments against real Debian daemons on high ports: assign through the panel, deploy, reload, and
the probe (and, independently, `openssl s_client`) sees the new certificate; rollbacks leave the daemon on
the previous one."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from repository.actions import certificate_import
from repository.models import Certificate
from services.actions import listener_assign, listener_deploy
from services.deploy import listener_files
from services.models import FINAL_DEPLOYMENT_STATUSES, Listener
from services.verification import listener_verify
from tests.support import daemons
from tests.support.factories import CA, ec_key, key_pem, pem

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
NAME = "mail.example.com"


def _pair(ca: CA, *names: str) -> tuple[bytes, bytes]:
    key = ec_key()
    return pem(ca.issue(key.public_key(), list(names)), ca.intermediate), key_pem(key)


def _write(paths: daemons.TlsPaths, pair: tuple[bytes, bytes]) -> None:
    paths.fullchain.parent.mkdir(parents=True, exist_ok=True)
    paths.fullchain.write_bytes(pair[0])
    paths.key.write_bytes(pair[1])
    paths.key.chmod(0o600)


def _stored(ca: CA, *names: str) -> Certificate:
    fullchain, key = _pair(ca, *names)
    return certificate_import(certificate_data=fullchain, key_data=key).certificate


def _served(daemon: daemons.Daemon, protocol: str, name: str = NAME) -> str:
    chain = daemons.served_chain(daemon.host, daemon.ports[protocol], protocol, name)
    return daemons.sha256_fingerprint(chain[0]).lower()


@dataclass(frozen=True)
class Case:
    daemon: str
    start: Callable[..., daemons.Daemon]
    protocols: tuple[str, ...]
    options: tuple[tuple[str, object], ...] = ()


CASES = [
    Case("dovecot", daemons.dovecot, ("imap", "imaps", "pop3", "pop3s")),
    Case("postfix", daemons.postfix, ("smtp", "submission", "smtps")),
    Case("vsftpd", daemons.vsftpd, ("ftp",)),
    Case("vsftpd", daemons.vsftpd, ("ftps",), (("implicit", True),)),
    Case("slapd", daemons.slapd, ("ldap", "ldaps")),
    Case("nginx", daemons.nginx, ("https",)),
]


def _listener(daemon: daemons.Daemon, kind: str, protocol: str, tls: daemons.TlsPaths, **extra: object) -> Listener:
    fields = {
        "check_cmd": shlex.join(daemon.check_cmd),
        "reload_cmd": shlex.join(daemon.reload_cmd),
        "name": f"{kind}-{protocol}",
        **extra,
    }
    return Listener.objects.create(
        protocol=protocol,
        host=daemon.host,
        port=daemon.ports[protocol],
        daemon=kind,
        server_name=NAME,
        fullchain_path=str(tls.fullchain),
        key_path=str(tls.key),
        **fields,
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{c.daemon}-{'+'.join(c.protocols)}" for c in CASES])
def test_deploy_puts_the_assigned_certificate_on_every_port(case: Case, ca: CA, tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    tls = daemons.TlsPaths(tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "key.pem")
    _write(tls, _pair(ca, NAME))
    with case.start(tmp_path / case.daemon, tls, **dict(case.options)) as daemon:
        new = _stored(ca, NAME)
        listeners = [_listener(daemon, case.daemon, protocol, tls) for protocol in case.protocols]
        for listener in listeners:
            listener_assign(listener, new.pk)
        deployment = listener_deploy(listeners[0].pk)
        assert deployment.status == "succeeded", deployment.log
        assert tls.key.stat().st_mode & 0o777 == 0o600
        for listener in listeners:
            (result,) = listener_verify(listener)
            assert result.ok, result.error
            assert result.served_fingerprint_sha256 == new.fingerprint_sha256
            # ...and independently, the way an admin checks by hand:
            assert _served(daemon, listener.protocol) == new.fingerprint_sha256, listener.protocol


@pytest.mark.parametrize("kind", ["dovecot", "nginx"])
def test_two_names_on_one_listener_get_their_own_certificates(kind: str, ca: CA, tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    protocol = {"dovecot": "imaps", "nginx": "https"}[kind]
    customer = "mail.customer.example"
    probe_listener = Listener(name="sni", protocol=protocol, daemon=kind)
    main_files = listener_files(probe_listener)
    sni_files = listener_files(probe_listener, sni_name=customer)
    main = daemons.TlsPaths(Path(main_files.paths["fullchain"]), Path(main_files.paths["key"]))
    other = daemons.TlsPaths(Path(sni_files.paths["fullchain"]), Path(sni_files.paths["key"]))
    _write(main, _pair(ca, NAME))
    _write(other, _pair(ca, customer))
    start = daemons.dovecot if kind == "dovecot" else daemons.nginx
    with start(tmp_path / kind, main, sni={customer: other}) as daemon:
        listener = Listener.objects.create(
            name="sni",
            protocol=protocol,
            host=daemon.host,
            port=daemon.ports[protocol],
            daemon=kind,
            server_name=NAME,
            check_cmd=shlex.join(daemon.check_cmd),
            reload_cmd=shlex.join(daemon.reload_cmd),
        )
        ours, theirs = _stored(ca, NAME), _stored(ca, customer)
        listener_assign(listener, ours.pk)
        listener_assign(listener, theirs.pk, sni_name=customer)
        deployment = listener_deploy(listener.pk)
        assert deployment.status == "succeeded", deployment.log
        results = {r.server_name: r for r in listener_verify(listener)}
        assert results[NAME].served_fingerprint_sha256 == ours.fingerprint_sha256 and results[NAME].ok
        assert results[customer].served_fingerprint_sha256 == theirs.fingerprint_sha256 and results[customer].ok
        assert _served(daemon, protocol, customer) == theirs.fingerprint_sha256


@pytest.mark.parametrize(
    ("reload_cmd", "why"),
    [("false", "the reload failed"), ("true", "the port does not serve the assigned certificate")],
    ids=["reload-fails", "verification-sees-the-old-certificate"],
)
def test_a_failed_deployment_leaves_the_daemon_on_the_previous_certificate(
    reload_cmd: str, why: str, ca: CA, tmp_path: Path, settings
) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    tls = daemons.TlsPaths(tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "key.pem")
    previous = _pair(ca, NAME)
    _write(tls, previous)
    with daemons.nginx(tmp_path / "nginx", tls) as daemon:
        before = _served(daemon, "https")
        listener = _listener(daemon, "nginx", "https", tls, reload_cmd=reload_cmd)
        listener_assign(listener, _stored(ca, NAME).pk)
        deployment = listener_deploy(listener.pk)
        assert deployment.status == "rolled_back" and why in deployment.log
        assert tls.fullchain.read_bytes() == previous[0] and tls.key.read_bytes() == previous[1]
        daemon.reload()  # even a later reload finds the previous files
        assert _served(daemon, "https") == before


def test_plaintext_login_before_starttls_is_reported(ca: CA, tmp_path: Path, settings) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    tls = daemons.TlsPaths(tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "key.pem")
    _write(tls, _pair(ca, NAME))
    for plaintext in (False, True):
        with daemons.dovecot(tmp_path / f"dovecot-{plaintext}", tls, plaintext_auth=plaintext) as daemon:
            listener = _listener(daemon, "dovecot", "imap", tls, name=f"imap-{plaintext}")
            (result,) = listener_verify(listener)
            assert result.plaintext_auth_before_tls is plaintext


@pytest.mark.django_db(transaction=True)
def test_verify_alerts_once_per_incident_and_after_recovery(cli, ca: CA, tmp_path: Path, settings) -> None:
    from certpanel.notifications import notifications_deliver_pending
    from tests.support.smtp import SmtpSink

    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    tls = daemons.TlsPaths(tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "key.pem")
    _write(tls, _pair(ca, NAME))
    with SmtpSink() as sink, daemons.nginx(tmp_path / "nginx", tls) as daemon:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", sink.port, False
        settings.CERTPANEL_NOTIFY_EMAILS = ["admins@example.com"]
        listener = _listener(daemon, "nginx", "https", tls, name="Webmail")
        listener_assign(listener, _stored(ca, NAME).pk)  # assigned, not yet deployed: the port serves another
        for _ in range(2):
            result = cli("services", "verify", "Webmail", "--json")
            assert result.code == 1 and "1 listener check(s) failed" in result.error_line
        (row,) = json.loads(result.out)
        for key in (
            "service",
            "host",
            "port",
            "protocol",
            "ok",
            "served_fingerprint_sha256",
            "expected_fingerprint_sha256",
            "hostname_ok",
            "chain_ok",
            "days_left",
            "tls_version",
            "error",
        ):
            assert key in row
        assert row["service"] == "Webmail" and row["ok"] is False and row["hostname_ok"] and row["chain_ok"]
        assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]  # the worker's job
        (alert,) = sink.wait_for(1)
        assert "Webmail (127.0.0.1:" in alert["Subject"]
        assert "serves a different certificate" in alert.get_body(("plain",)).get_content()
        assert cli("services", "deploy", "Webmail").code == 0
        assert cli("services", "verify", "--all", "--json").code == 0
        assert [attempt.status for attempt in notifications_deliver_pending()] == ["sent"]
        messages = sink.wait_for(2)
        assert "serves its certificate again" in messages[1]["Subject"]


@pytest.mark.django_db(transaction=True)
def test_a_renewed_certificate_is_redeployed_and_verified_on_its_listener(cli, ca: CA, tmp_path: Path) -> None:
    from services.models import Deployment
    from tests.support.acme_stack import acme_stack
    from tests.support.processes import wait_for

    with acme_stack(tmp_path) as stack:
        stack.account()
        issued = cli("certs", "issue", "--domain", NAME, "--wait", "--json")
        assert issued.code == 0, issued.err
        old_id = json.loads(issued.out)["id"]
        tls = daemons.TlsPaths(tmp_path / "tls" / "fullchain.pem", tmp_path / "tls" / "key.pem")
        _write(tls, _pair(ca, NAME))
        with daemons.dovecot(tmp_path / "dovecot", tls) as daemon:
            listener = _listener(daemon, "dovecot", "imaps", tls, name="IMAPS")
            listener_assign(listener, old_id)
            assert listener_deploy(listener.pk).status == "succeeded"
            renewed = cli("certs", "renew", "--id", str(old_id), "--wait", "--json")
            assert renewed.code == 0, renewed.err
            new = json.loads(renewed.out)
            deployment = wait_for(
                lambda: Deployment.objects.filter(
                    listener=listener, trigger="renewal", status__in=FINAL_DEPLOYMENT_STATUSES
                ).first(),
                timeout=60,
                what="the renewal's redeployment",
                log=tmp_path / "worker.log",
            )
            assert deployment.status == "succeeded", deployment.log
            assert _served(daemon, "imaps") == new["fingerprint_sha256"]
            listener.refresh_from_db()
            assert listener.certificate_id == new["id"]
