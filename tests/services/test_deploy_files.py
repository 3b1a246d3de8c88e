"""Deployment's file handling and the adapters' snippets (no daemon needed)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.conf import settings

from services.daemons import ADAPTERS
from services.daemons.base import Files, SnippetContext
from services.deploy import listener_files, plan_writes
from services.models import Listener
from services.protocols import BY_CODE, PROTOCOLS
from services.staging import FileWrite, files_finish, files_restore, files_stage, files_swap


def write_atomically(write: FileWrite, *, uid: int, gid: int) -> list:
    """Stage, swap and keep the previous file, as a successful deployment does (under the tests' deploy root)."""
    staged = files_stage([write], uid=uid, gid=gid, tag="t", roots=settings.CERTPANEL_DEPLOY_ROOTS)
    files_swap(staged)
    return staged


def test_staged_files_replace_nothing_until_the_swap_and_restore_by_rename(tmp_path: Path) -> None:
    target = tmp_path / "tls" / "key.pem"
    first = write_atomically(FileWrite(target, b"old key", secret=True), uid=-1, gid=-1)
    assert first[0].previous == "" and target.read_bytes() == b"old key"
    assert target.stat().st_mode & 0o777 == 0o600
    files_finish(first)
    staged = files_stage([FileWrite(target, b"new key", secret=True)], uid=-1, gid=-1, tag="t", roots=[tmp_path])
    assert target.read_bytes() == b"old key", "staging replaces nothing"
    old_inode = target.stat().st_ino
    files_swap(staged)
    assert target.read_bytes() == b"new key"
    assert Path(staged[0].previous).stat().st_ino == old_inode, "the previous file is kept as it was (a link)"
    assert files_restore(staged) == 1
    assert target.read_bytes() == b"old key" and target.stat().st_ino == old_inode
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")], "no temp files left behind"
    files_swap(staged)  # nothing staged any more: a second run changes nothing
    assert target.read_bytes() == b"old key"
    assert files_restore(first) == 1
    assert not target.exists(), "a file that did not exist before is removed on rollback"


def test_success_keeps_the_previous_file_as_dot_previous(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    target.write_bytes(b"old key")
    staged = write_atomically(FileWrite(target, b"new key", secret=True), uid=-1, gid=-1)
    files_finish(staged)
    keep = tmp_path / "key.pem.previous"
    assert keep.read_bytes() == b"old key" and keep.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_public_files_are_world_readable_keys_are_not(tmp_path: Path) -> None:
    write_atomically(FileWrite(tmp_path / "cert.pem", b"cert", secret=False), uid=-1, gid=-1)
    assert (tmp_path / "cert.pem").stat().st_mode & 0o777 == 0o644


def test_unknown_owner_is_a_clear_error(tmp_path: Path) -> None:
    from services.deploy import DeployError, owner_ids

    with pytest.raises(DeployError, match="Unknown owner or group: no-such-user-xyz"):
        owner_ids("no-such-user-xyz", "")


@pytest.mark.django_db
def test_files_go_to_the_listener_paths_or_the_deploy_dir(settings, tmp_path: Path) -> None:
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path)
    listener = Listener(name="IMAPS", protocol="imaps", port=993, daemon="dovecot", key_path="/etc/ssl/private/k.pem")
    files = listener_files(listener)
    assert files.paths == {"fullchain": f"{tmp_path}/imaps/fullchain.pem", "key": "/etc/ssl/private/k.pem"}
    sni = listener_files(listener, sni_name="mail.customer.example")
    assert sni.paths["key"] == f"{tmp_path}/imaps/sni/mail.customer.example/key.pem"


def test_a_self_signed_certificate_writes_no_empty_chain_file() -> None:
    files = Files({"cert": "/x/cert.pem", "chain": "/x/chain.pem", "key": "/x/key.pem"})
    writes = plan_writes(files, {"cert": b"C", "chain": b"", "fullchain": b"C", "key": b"K", "combined": b"CK"})
    assert [w.path.name for w in writes] == ["cert.pem", "key.pem"]
    assert [w.secret for w in writes] == [False, True]


@pytest.mark.parametrize("protocol", [p.code for p in PROTOCOLS])
def test_every_protocol_has_a_daemon_whose_snippet_names_the_files(protocol: str) -> None:
    adapter = ADAPTERS[BY_CODE[protocol].daemon]
    files = Files({"fullchain": "/srv/tls/fullchain.pem", "key": "/srv/tls/key.pem"})
    sni = [("mail.customer.example", Files({"fullchain": "/srv/c/fullchain.pem", "key": "/srv/c/key.pem"}))]
    text = adapter.snippet(SnippetContext("x", protocol, 1234, "mail.example.com", files, sni))
    assert "/srv/tls/fullchain.pem" in text and "/srv/tls/key.pem" in text
    assert adapter.check_cmd and adapter.reload_cmd


def test_dovecot_and_nginx_snippets_carry_sni_blocks() -> None:
    files = Files({"fullchain": "/a/f.pem", "key": "/a/k.pem"})
    sni = [("mail.customer.example", Files({"fullchain": "/c/f.pem", "key": "/c/k.pem"}))]
    dovecot = ADAPTERS["dovecot"].snippet(SnippetContext("IMAPS", "imaps", 993, "mail.example.com", files, sni))
    assert "local_name mail.customer.example {\n  ssl_cert = </c/f.pem" in dovecot
    nginx = ADAPTERS["nginx"].snippet(SnippetContext("Webmail", "https", 443, "mail.example.com", files, sni))
    assert "server_name mail.customer.example;" in nginx and "ssl_certificate /c/f.pem;" in nginx
    postfix = ADAPTERS["postfix"].snippet(SnippetContext("SMTPS", "smtps", 465, "mail.example.com", files))
    assert "smtpd_tls_wrappermode=yes" in postfix and "smtpd_tls_chain_files = /a/k.pem, /a/f.pem" in postfix


def test_rollback_restores_the_previous_mode_and_owner(tmp_path: Path) -> None:
    import grp

    target = tmp_path / "key.pem"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    ssl_group = grp.getgrnam("nogroup").gr_gid
    os.chown(target, -1, ssl_group)
    staged = write_atomically(FileWrite(target, b"new", secret=True), uid=-1, gid=-1)
    assert target.stat().st_mode & 0o777 == 0o600
    files_restore(staged)
    info = target.stat()
    assert (target.read_bytes(), info.st_mode & 0o777, info.st_gid) == (b"old", 0o640, ssl_group)


@pytest.mark.django_db
def test_a_key_that_does_not_match_is_refused_before_anything_is_written() -> None:
    from repository.actions import certificate_create_self_signed
    from services.deploy import DeployError, certificate_contents
    from tests.support.factories import ec_key

    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    with pytest.raises(DeployError, match=re.escape("does not match the certificate 'mail.example.com'")):
        certificate_contents(entry, ec_key())


def test_key_files_get_the_configured_owner_and_group(tmp_path: Path) -> None:
    import grp
    import pwd

    from services.deploy import owner_ids

    uid, gid = owner_ids("nobody", "nogroup")
    assert (uid, gid) == (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    write_atomically(FileWrite(tmp_path / "key.pem", b"k", secret=True), uid=uid, gid=gid)
    stat = (tmp_path / "key.pem").stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (uid, gid, 0o600)
