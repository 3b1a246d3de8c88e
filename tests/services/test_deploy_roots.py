"""Deploy paths only under the deploy roots, never through a link, owners from an allow-list (issue 9).

Each test tries what the review did: a target outside any deploy directory, `..`, a directory link out of a root,
a `.previous` planted as a link to a file the panel must not touch, an owner nobody allowed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client

from certpanel.files import copy_regular, makedirs_under, resolve_under
from repository.actions import certificate_create_self_signed
from services.actions import listener_deploy
from services.deploy import owner_check
from services.errors import StagingError
from services.models import Deployment, Listener
from services.staging import FileWrite, files_finish, files_stage, files_swap

FORM = {"name": "Custom", "protocol": "imaps", "host": "127.0.0.1", "port": "10993"}


@pytest.fixture
def root(tmp_path: Path, settings) -> Path:
    """One deploy root (and a deploy dir beside it), as a host would configure them."""
    root = tmp_path / "root"
    root.mkdir()
    settings.CERTPANEL_DEPLOY_ROOTS = [str(root)]
    settings.CERTPANEL_DEPLOY_DIR = str(tmp_path / "deploy")
    return root


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside every root that an attacker would like the panel to overwrite or chmod."""
    path = tmp_path / "outside" / "victim"
    path.parent.mkdir()
    path.write_bytes(b"precious\n")
    path.chmod(0o644)
    return path


def _listener(root: Path, **paths: str) -> Listener:
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    fields = {"fullchain_path": str(root / "fullchain.pem"), "key_path": str(root / "key.pem"), **paths}
    return Listener.objects.create(name="Custom", protocol="imaps", port=1, daemon="files", certificate=entry, **fields)


# -- the roots --------------------------------------------------------------------------------------------
def test_resolve_under_follows_directory_links_and_dot_dots(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    assert resolve_under(root / "sub" / "key.pem", [root]) == (root / "sub" / "key.pem", root)
    assert resolve_under(root / ".." / "outside" / "key.pem", [root]) is None
    assert resolve_under(root / "escape" / "key.pem", [root]) is None
    assert resolve_under(root, [root]) is None, "the root itself is no file"
    assert resolve_under(Path("relative.pem"), [root]) is None


@pytest.mark.parametrize(
    "where",
    ["/etc/passwd", "{tmp}/outside/key.pem", "{root}/../outside/key.pem", "{root}/escape/key.pem", "{data}/secret_key"],
)
def test_the_form_refuses_a_path_outside_the_deploy_roots(
    staff_client: Client, root: Path, tmp_path: Path, settings, where: str
) -> None:
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    settings.CERTPANEL_DEPLOY_ROOTS = [str(root), str(settings.DATA_DIR)]  # even a careless root: not the data dir
    path = where.format(tmp=tmp_path, root=root, data=settings.DATA_DIR)
    response = staff_client.post("/services/add/", {**FORM, "key_path": path})
    page = response.content.decode()
    assert response.status_code == 200
    assert "outside the deploy roots" in page or "inside the panel&#x27;s data dir" in page, page
    assert not Listener.objects.exists()


def test_the_form_takes_a_path_under_a_root(staff_client: Client, root: Path) -> None:
    response = staff_client.post("/services/add/", {**FORM, "key_path": str(root / "imaps" / "key.pem")})
    assert response.status_code == 302
    assert Listener.objects.get().key_path == str(root / "imaps" / "key.pem")


def test_the_cli_refuses_a_path_outside_the_deploy_roots(cli, root: Path, tmp_path: Path) -> None:
    base = ["services", "add", "--name", "X", "--protocol", "imaps", "--host", "127.0.0.1", "--port", "993"]
    result = cli(*base, "--key-path", str(tmp_path / "elsewhere" / "key.pem"))
    assert result.code == 1 and "outside the deploy roots" in result.error_line, result.err
    assert not Listener.objects.exists()
    assert cli(*base, "--key-path", str(root / "key.pem")).code == 0
    moved = cli("services", "edit", "X", "--key-path", "/etc/shadow")
    assert moved.code == 1 and "outside the deploy roots" in moved.error_line, moved.err
    assert Listener.objects.get().key_path == str(root / "key.pem")


@pytest.mark.django_db
def test_a_listener_outside_the_roots_is_refused_at_deployment_and_nothing_is_written(
    root: Path, tmp_path: Path, settings
) -> None:
    """Roots narrowed after the listener was saved (or a row written some other way)."""
    outside = tmp_path / "outside"
    listener = _listener(root, key_path=str(outside / "key.pem"))
    deployment = listener_deploy(listener.pk)
    assert deployment.status == "failed"
    assert "is outside the deploy roots" in deployment.error and "nothing was changed" in deployment.error
    assert not outside.exists(), "no parent created outside the roots"
    assert not (root / "fullchain.pem").exists(), "all or nothing"


@pytest.mark.django_db
def test_a_missing_root_is_said_and_directories_are_created_only_inside_one(root: Path, settings) -> None:
    listener = _listener(root, fullchain_path=str(root / "a" / "b" / "fullchain.pem"))
    assert listener_deploy(listener.pk).status == "rolled_back"  # written, then nothing served on port 1
    assert (root / "a" / "b").is_dir()
    missing = root.parent / "not-yet"
    settings.CERTPANEL_DEPLOY_ROOTS = [str(missing)]
    Listener.objects.filter(pk=listener.pk).update(
        fullchain_path=str(missing / "fullchain.pem"), key_path=str(missing / "key.pem")
    )
    deployment = listener_deploy(listener.pk)
    assert deployment.status == "failed" and f"the deploy root {missing} does not exist" in deployment.error
    assert not missing.exists()


def test_makedirs_under_refuses_a_link_in_the_way(tmp_path: Path, victim: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "sub").symlink_to(victim.parent)
    with pytest.raises(NotADirectoryError):
        makedirs_under(tmp_path / "root" / "sub" / "deeper", tmp_path / "root")
    assert not (victim.parent / "deeper").exists()


# -- links ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_symlinked_previous_is_refused_and_its_target_untouched(root: Path, victim: Path) -> None:
    (root / "key.pem").write_bytes(b"old key\n")
    (root / "key.pem.previous").symlink_to(victim)
    listener = _listener(root)
    deployment = listener_deploy(listener.pk)
    assert deployment.status == "failed"
    assert f"{root}/key.pem.previous (the previous copy) is a symbolic link" in deployment.error
    assert "nothing was changed" in deployment.error
    assert victim.read_bytes() == b"precious\n" and victim.stat().st_mode & 0o777 == 0o644
    assert (root / "key.pem").read_bytes() == b"old key\n"
    assert sorted(p.name for p in root.iterdir()) == ["key.pem", "key.pem.previous"], "nothing staged is left"


@pytest.mark.django_db
def test_a_symlinked_target_is_refused(root: Path, victim: Path) -> None:
    (root / "key.pem").symlink_to(victim)
    deployment = listener_deploy(_listener(root).pk)
    assert deployment.status == "failed" and "(the target) is a symbolic link" in deployment.error
    assert victim.read_bytes() == b"precious\n" and (root / "key.pem").is_symlink()


def test_a_previous_link_planted_after_staging_is_replaced_never_written_through(root: Path, victim: Path) -> None:
    target = root / "key.pem"
    target.write_bytes(b"old key")
    staged = files_stage([FileWrite(target, b"new key", secret=True)], uid=-1, gid=-1, tag="t", roots=[root])
    files_swap(staged)
    (root / "key.pem.previous").symlink_to(victim)  # the race: planted between the checks and the end
    files_finish(staged)
    assert victim.read_bytes() == b"precious\n" and victim.stat().st_mode & 0o777 == 0o644
    kept = root / "key.pem.previous"
    assert not kept.is_symlink() and kept.read_bytes() == b"old key" and kept.stat().st_mode & 0o777 == 0o600


def test_staging_refuses_a_target_outside_its_roots(root: Path, tmp_path: Path) -> None:
    with pytest.raises(StagingError, match="is outside the deploy roots"):
        files_stage([FileWrite(tmp_path / "x.pem", b"x", secret=False)], uid=-1, gid=-1, tag="t", roots=[root])
    assert not (tmp_path / "x.pem").exists()


def test_the_copy_fallback_never_reads_or_writes_through_a_link(tmp_path: Path, victim: Path) -> None:
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(OSError):
        copy_regular(tmp_path / "link", tmp_path / "copy")
    (tmp_path / "planted").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        copy_regular(victim, tmp_path / "planted")
    assert not (tmp_path / "elsewhere").exists()


# -- owners -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"owner": "nobody"}, "The owner &#x27;nobody&#x27; is not allowed for deployed files"),
        ({"group": "shadow"}, "The group &#x27;shadow&#x27; is not allowed"),
        ({"owner": "no-such-user-xyz"}, "Unknown owner or group: no-such-user-xyz"),
    ],
)
def test_an_owner_or_group_outside_the_allow_list_is_refused(
    staff_client: Client, settings, fields: dict[str, str], message: str
) -> None:
    settings.CERTPANEL_DEPLOY_OWNERS = ["root", "postfix", "no-such-user-xyz"]
    settings.CERTPANEL_DEPLOY_GROUPS = ["root", "ssl-cert"]
    response = staff_client.post("/services/add/", {**FORM, **fields})
    assert message in response.content.decode()
    assert not Listener.objects.exists()


def test_the_cli_refuses_an_owner_outside_the_allow_list(cli, settings) -> None:
    settings.CERTPANEL_DEPLOY_OWNERS = ["root"]
    base = ["services", "add", "--name", "X", "--protocol", "imaps", "--host", "127.0.0.1", "--port", "993"]
    result = cli(*base, "--owner", "nobody")
    assert result.code == 1 and "The owner 'nobody' is not allowed" in result.error_line, result.err
    assert "CERTPANEL_DEPLOY_OWNERS" in result.error_line and not Listener.objects.exists()


@pytest.mark.django_db
def test_an_owner_removed_from_the_allow_list_stops_the_deployment(root: Path, settings) -> None:
    listener = _listener(root, owner="root")
    settings.CERTPANEL_DEPLOY_OWNERS = ["postfix"]
    deployment = listener_deploy(listener.pk)
    assert deployment.status == "failed" and "The owner 'root' is not allowed" in deployment.error
    assert not (root / "key.pem").exists() and Deployment.objects.count() == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_an_allowed_owner_and_group_are_applied(root: Path) -> None:
    import grp
    import pwd

    uid, gid = owner_check("postfix", "ssl-cert")  # both in the default allow-lists
    staged = files_stage([FileWrite(root / "key.pem", b"key", secret=True)], uid=uid, gid=gid, tag="t", roots=[root])
    files_swap(staged)
    info = (root / "key.pem").stat()
    assert (info.st_uid, info.st_gid) == (pwd.getpwnam("postfix").pw_uid, grp.getgrnam("ssl-cert").gr_gid)
