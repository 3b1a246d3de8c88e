"""Smoke test of tests/support/daemons.py: each real daemon serves the certificate FILES it was given, keeps serving
them when the files are replaced, and serves the new ones after `reload()` — checked from outside with openssl s_client.

Needs the Debian packages in tests.support.daemons.DEBIAN_PACKAGES and root (the daemons drop privileges themselves).
"""

from __future__ import annotations

import imaplib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import daemons
from tests.support.daemons import Daemon, TlsPaths
from tests.support.factories import CA, der, ec_key, key_pem, pem, rsa_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def _daemons_available() -> None:
    problem = ""
    if os.geteuid() != 0:
        problem = "the daemon harness runs as root (as CI does)"
    elif missing := daemons.installed():
        problem = f"missing {', '.join(missing)}: apt-get install {' '.join(daemons.DEBIAN_PACKAGES)}"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)


@dataclass
class Material:
    fullchain: bytes
    key: bytes
    fingerprint: str  # SHA-256 of the leaf's DER, upper-case hex


@dataclass
class Slot:
    """One certificate/key file pair, the name a client asks for, and what the files hold before and after."""

    paths: TlsPaths
    servername: str
    a: Material
    b: Material


def issue(ca: CA, name: str, *, rsa: bool = False) -> Material:
    key = rsa_key() if rsa else ec_key()
    leaf = ca.issue(key.public_key(), [name])
    return Material(pem(leaf, ca.intermediate), key_pem(key), daemons.sha256_fingerprint(der(leaf)))


def install(paths: TlsPaths, material: Material) -> None:
    """As a deployment does it: a temporary file next to the target, then rename over it."""
    for target, data, mode in ((paths.key, material.key, 0o600), (paths.fullchain, material.fullchain, 0o644)):
        tmp = target.with_name(f".{target.name}.new")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        os.replace(tmp, target)


def slot(ca: CA, directory: Path, name: str) -> Slot:
    directory.mkdir(parents=True, exist_ok=True)
    paths = TlsPaths(directory / "fullchain.pem", directory / "privkey.pem")
    made = Slot(paths, name, issue(ca, name), issue(ca, name, rsa=True))  # the renewal switches key type too
    install(made.paths, made.a)
    return made


def served(d: Daemon, protocol: str, servername: str) -> str:
    chain = daemons.served_chain(d.host, d.ports[protocol], protocol, servername)
    assert len(chain) == 2, f"{d.name} {protocol}: expected leaf + intermediate, got {len(chain)} certificates"
    return daemons.sha256_fingerprint(chain[0])


def assert_serving(d: Daemon, slots: list[Slot], which: str) -> None:
    for protocol in d.ports:
        for s in slots:
            expected = getattr(s, which).fingerprint
            assert served(d, protocol, s.servername) == expected, (
                f"{d.name} {protocol} ({s.servername}) does not serve certificate {which.upper()}"
            )


def check_config(d: Daemon) -> None:
    result = subprocess.run(d.check_cmd, capture_output=True, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")


def exercise(d: Daemon, slots: list[Slot]) -> None:
    """Started on A: every port serves A; files replaced by B: still A; reload(): every port serves B."""
    check_config(d)
    assert_serving(d, slots, "a")
    for s in slots:
        install(s.paths, s.b)
    check_config(d)
    assert_serving(d, slots, "a")  # so it is the reload, not the file swap, that makes B appear
    d.reload()
    assert_serving(d, slots, "b")


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Under pytest's 0700 basetemp on purpose: the daemons' unprivileged processes must not need to traverse it.
    return tmp_path_factory.mktemp("daemons")


def imap_capabilities(host: str, port: int) -> set[str]:
    with socket.create_connection((host, port), timeout=10) as sock, sock.makefile("rwb") as stream:
        greeting = stream.readline()
        assert greeting.startswith(b"* OK"), greeting
        stream.write(b"a1 CAPABILITY\r\n")
        stream.flush()
        caps: set[str] = set()
        while line := stream.readline():
            if line.startswith(b"* CAPABILITY "):
                caps.update(line.decode().split()[2:])
            if line.startswith(b"a1 "):
                assert line.startswith(b"a1 OK"), line
                return caps
    raise AssertionError("connection closed before CAPABILITY completed")


def test_dovecot_imap_pop3_with_sni(workdirs: Path, ca: CA) -> None:
    default = slot(ca, workdirs / "dovecot-tls/default", "mail.certpanel.test")
    one = slot(ca, workdirs / "dovecot-tls/one", "imap.one.test")
    two = slot(ca, workdirs / "dovecot-tls/two", "pop.two.test")
    sni = {one.servername: one.paths, two.servername: two.paths}
    with daemons.dovecot(workdirs / "dovecot", default.paths, sni=sni) as d:
        assert set(d.ports) == {"imap", "imaps", "pop3", "pop3s"}
        caps = imap_capabilities(d.host, d.ports["imap"])
        assert {"STARTTLS", "LOGINDISABLED"} <= caps, caps
        assert "AUTH=PLAIN" not in caps, caps
        exercise(d, [default, one, two])


def test_dovecot_plaintext_auth_allowed(workdirs: Path, ca: CA) -> None:
    default = slot(ca, workdirs / "dovecot-plain-tls", "mail.certpanel.test")
    with daemons.dovecot(workdirs / "dovecot-plain", default.paths, plaintext_auth=True) as d:
        caps = imap_capabilities(d.host, d.ports["imap"])
        assert "LOGINDISABLED" not in caps, caps
        assert {"STARTTLS", "AUTH=PLAIN"} <= caps, caps
        client = imaplib.IMAP4(d.host, d.ports["imap"], timeout=10)
        try:
            assert client.login("alice", daemons.DOVECOT_PASSWORD)[0] == "OK"  # in the clear, as a probe would see
            assert client.select("INBOX")[0] == "OK"  # the mail process works too, not just the login
        finally:
            client.logout()


def test_postfix_smtp_smtps_submission(workdirs: Path, ca: CA) -> None:
    default = slot(ca, workdirs / "postfix-tls", "mail.certpanel.test")
    with daemons.postfix(workdirs / "postfix", default.paths) as d:
        assert set(d.ports) == {"smtp", "smtps", "submission"}
        exercise(d, [default])


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_vsftpd(workdirs: Path, ca: CA, implicit: bool) -> None:
    kind = "implicit" if implicit else "explicit"
    default = slot(ca, workdirs / f"vsftpd-{kind}-tls", "ftp.certpanel.test")
    with daemons.vsftpd(workdirs / f"vsftpd-{kind}", default.paths, implicit=implicit) as d:
        assert set(d.ports) == ({"ftps"} if implicit else {"ftp"})
        exercise(d, [default])


def test_vsftpd_sighup_alone_does_not_deploy(workdirs: Path, ca: CA) -> None:
    """Why reload_cmd restarts vsftpd: Debian's `systemctl reload vsftpd` is a SIGHUP, which re-reads vsftpd.conf
    but keeps the certificate loaded at start-up."""
    default = slot(ca, workdirs / "vsftpd-hup-tls", "ftp.certpanel.test")
    with daemons.vsftpd(workdirs / "vsftpd-hup", default.paths) as d:
        listener = d.main_pid()
        assert listener is not None
        install(default.paths, default.b)
        os.kill(listener, signal.SIGHUP)
        time.sleep(0.3)
        assert d.main_pid() == listener
        assert served(d, "ftp", default.servername) == default.a.fingerprint
        d.reload()
        assert d.main_pid() not in (None, listener)
        assert served(d, "ftp", default.servername) == default.b.fingerprint


def test_slapd_ldap_ldaps(workdirs: Path, ca: CA) -> None:
    default = slot(ca, workdirs / "slapd-tls", "ldap.certpanel.test")
    with daemons.slapd(workdirs / "slapd", default.paths) as d:
        assert set(d.ports) == {"ldap", "ldaps"}
        exercise(d, [default])


def test_nginx_with_sni(workdirs: Path, ca: CA) -> None:
    default = slot(ca, workdirs / "nginx-tls/default", "www.certpanel.test")
    one = slot(ca, workdirs / "nginx-tls/one", "one.certpanel.test")
    two = slot(ca, workdirs / "nginx-tls/two", "two.certpanel.test")
    sni = {one.servername: one.paths, two.servername: two.paths}
    with daemons.nginx(workdirs / "nginx", default.paths, sni=sni) as d:
        assert set(d.ports) == {"https"}
        exercise(d, [default, one, two])


def test_stop_leaves_nothing_behind_even_when_the_body_raises(workdirs: Path, ca: CA) -> None:
    default = slot(ca, workdirs / "leak-tls", "ftp.certpanel.test")
    d = daemons.vsftpd(workdirs / "leak", default.paths)
    port = d.ports["ftp"]
    seen: set[int] = set()
    session: socket.socket | None = None
    try:
        with pytest.raises(RuntimeError, match="body failed"), d:
            # An FTP session kept open past stop(): vsftpd serves it from processes that setsid() away from the
            # listener's process group, and they would live on if only that group were killed.
            session = socket.create_connection((d.host, port), timeout=10)
            assert session.recv(100).startswith(b"220")
            seen = d.pids()
            assert len(seen) >= 4, seen  # supervisor, listener, session (privileged + unprivileged)
            raise RuntimeError("body failed")
        assert not d.running
        assert not [pid for pid in seen if daemons._alive(pid)]
        assert not daemons.port_open(d.host, port)
    finally:
        if session is not None:
            session.close()


def test_slapd_reload_with_a_foreign_key_fails_and_leaves_no_tls(workdirs: Path, ca: CA) -> None:
    """slapd 2.5 (Debian 12) answers the TLS modify with result 80 AND drops its TLS context until a good one."""
    default = slot(ca, workdirs / "slapd-bad-tls", "ldap.certpanel.test")
    with daemons.slapd(workdirs / "slapd-bad", default.paths) as d:
        install(default.paths, Material(default.b.fullchain, issue(ca, "other.test", rsa=True).key, "-"))
        check_config(d)  # slaptest does not look at the TLS files
        with pytest.raises(daemons.DaemonError, match="exited 80"):
            d.reload()
        with pytest.raises(daemons.DaemonError, match="no certificate"):
            daemons.served_chain(d.host, d.ports["ldaps"], "ldaps", default.servername)
        install(default.paths, default.b)
        d.reload()
        assert served(d, "ldaps", default.servername) == default.b.fingerprint


def test_nginx_refuses_a_foreign_key_and_keeps_serving(workdirs: Path, ca: CA) -> None:
    """`nginx -t` and `nginx -s reload` both load the files first: a bad pair never reaches the running master."""
    default = slot(ca, workdirs / "nginx-bad-tls", "www.certpanel.test")
    with daemons.nginx(workdirs / "nginx-bad", default.paths) as d:
        # A key of the certificate's own type: nginx pairs keys with certificates per type, so an EC key next to
        # an RSA certificate passes `nginx -t` and the reload, and only the handshake fails.
        install(default.paths, Material(default.b.fullchain, issue(ca, "other.test", rsa=True).key, "-"))
        assert subprocess.run(d.check_cmd, capture_output=True, check=False).returncode != 0
        with pytest.raises(daemons.DaemonError, match="exited 1"):
            d.reload()
        assert served(d, "https", default.servername) == default.a.fingerprint
