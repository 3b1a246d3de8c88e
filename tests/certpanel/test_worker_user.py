"""`make run` as root with CERTPANEL_WORKER_USER: the worker (which writes daemon files and reloads daemons), beat
and gunicorn's workers run as that user, on a data dir handed to it; only the supervisor and gunicorn's master
(which binds the port) stay root."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from certpanel.launcher import Child, Supervisor, account_of, children, hand_over
from tests.support.processes import child_env, free_port, start, wait_for

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
NOBODY = "nobody"


ROOT = Path(__file__).resolve().parents[2]


def _runs_as(user: str, python: str = sys.executable) -> bool:
    """Whether ``python`` can run the panel as ``user`` (one installed under /root, as pyenv does, cannot)."""
    account = account_of(user)
    probe = [python, "-c", "import django, celery, certpanel"]
    try:
        done = subprocess.run(probe, user=account.uid, group=account.gid, cwd=ROOT, capture_output=True, check=False)
    except PermissionError:
        return False
    return done.returncode == 0


@pytest.fixture(scope="module")
def nobody_python() -> str:
    """An interpreter with the runtime requirements that ``nobody`` can run: this one, or else a venv in /tmp from
    Debian's python3 (pyenv's lives under /root, which only root may enter), built once per requirements."""
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")
    if _runs_as(NOBODY):
        return sys.executable
    system = shutil.which("python3", path="/usr/bin")
    if system is None:
        pytest.skip("no /usr/bin/python3 to build an interpreter nobody can run")
    requirements = ROOT / "requirements" / "base.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / f"certpanel-nobody-venv-{digest}"
    python = str(venv / "bin" / "python")
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([system, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r", str(requirements)], check=True, capture_output=True)
        subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
        (venv / ".complete").touch()
    if not _runs_as(NOBODY, python):
        pytest.skip(f"{NOBODY} cannot run {python} in {ROOT} (is the checkout readable by other users?)")
    return python


def test_children_switch_worker_beat_and_web_workers_only_when_asked() -> None:
    plain = children(listen="127.0.0.1:1", web_workers=1, beat_schedule="b", control_socket="/d/g.ctl")
    assert all(child.run_as is None for child in plain) and "--user" not in plain[0].argv
    account = account_of(NOBODY)
    group = {
        c.name: c for c in children(listen="x:1", web_workers=1, beat_schedule="b", control_socket="c", run_as=account)
    }
    assert group["worker"].run_as == account and group["beat"].run_as == account
    web = group["web"].argv
    assert web[web.index("--user") + 1] == str(account.uid) and "--initgroups" in web
    assert group["web"].run_as is None, "gunicorn's master binds the port, then switches its workers"
    assert group["worker"].popen_options()["env"]["HOME"] == account.home


def test_an_unknown_worker_user_is_one_clear_line_before_anything_starts(cli, settings) -> None:
    settings.CERTPANEL_WORKER_USER = "no-such-user-xyz"
    if os.geteuid() != 0:
        pytest.skip("not root: the setting is ignored with a warning")
    result = cli("runpanel", "--skip-migrate")
    assert result.code == 1
    assert result.error_line == "error: CERTPANEL_WORKER_USER names a user this host does not have: no-such-user-xyz"


@needs_root
def test_a_child_started_as_the_worker_user_has_its_ids(nobody_python: str) -> None:
    account = account_of(NOBODY)
    where = Path(tempfile.mkdtemp(dir="/tmp"))
    where.chmod(0o777)
    out = where / "ids"
    script = f"import os; open({str(out)!r}, 'w').write(repr((os.getuid(), os.getgid(), os.geteuid())))"
    child = Child("probe", [nobody_python, "-c", script], account)
    supervisor = Supervisor([child])
    supervisor.start()
    assert child.process is not None and child.process.wait(timeout=30) == 0
    assert out.read_text() == repr((account.uid, account.gid, account.uid))
    shutil.rmtree(where)


@needs_root
def test_hand_over_gives_the_data_dir_but_leaves_deployed_files_to_their_owners(tmp_path: Path) -> None:
    account = account_of(NOBODY)
    data, deployed = tmp_path / "data", tmp_path / "data" / "deploy" / "imaps"
    deployed.mkdir(parents=True)
    (data / "key_encryption_key").write_text("k")
    (deployed / "key.pem").write_text("key")
    os.chown(deployed / "key.pem", pwd.getpwnam("postfix").pw_uid, 0)
    (data / "link").symlink_to("/etc/passwd")
    hand_over(data, account, directories_only_under=data / "deploy")
    assert (data / "key_encryption_key").stat().st_uid == account.uid
    assert deployed.stat().st_uid == account.uid, "the worker can replace files in it"
    assert (deployed / "key.pem").stat().st_uid == pwd.getpwnam("postfix").pw_uid
    assert Path("/etc/passwd").stat().st_uid == 0, "a link is changed itself, never what it points to"


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def _uids_of(marker: str) -> dict[str, set[int]]:
    """The real uids of the processes whose environment names ``marker``: worker, beat, web (gunicorn) or other."""
    found: dict[str, set[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() not in (proc / "environ").read_bytes():
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = (proc / "status").read_text().splitlines()
        except OSError:
            continue
        uid = int(next(line for line in status if line.startswith("Uid:")).split()[1])
        kinds = [kind for word, kind in KINDS if word in cmdline]
        found.setdefault(kinds[0] if kinds else "other", set()).add(uid)
    return found


KINDS = ((" worker ", "worker"), (" beat ", "beat"), ("gunicorn", "web"))


@needs_root
@pytest.mark.integration
def test_runpanel_as_root_runs_the_worker_as_the_configured_user(tmp_path: Path, nobody_python: str) -> None:
    # The data dir must be reachable by that user: pytest's own temp dirs are root's alone.
    data_dir = Path(tempfile.mkdtemp(prefix="certpanel-worker-user-", dir="/tmp"))
    port, log = free_port(), tmp_path / "panel.log"
    env = child_env(
        CERTPANEL_DATA_DIR=str(data_dir),
        CERTPANEL_HOSTNAME="mail.example.org",
        CERTPANEL_HEARTBEAT_SECONDS="1",
        CERTPANEL_LISTEN=f"127.0.0.1:{port}",
        CERTPANEL_WORKER_USER=NOBODY,
    )
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
        env.pop(name, None)
    nobody = account_of(NOBODY)
    panel = start(["manage.py", "runpanel"], env, log, python=nobody_python)
    try:
        wait_for(lambda: (_health(port) or {}).get("worker_ok"), timeout=90, what="web and worker", log=log)
        first = _health(port)["worker_last_seen"]  # type: ignore[index]
        # beat (as nobody) → file broker → worker (as nobody) → the SQLite database the root web also opens.
        wait_for(lambda: _health(port)["worker_last_seen"] != first, timeout=30, what="a beat-driven task", log=log)
        uids = _uids_of(str(data_dir))
        assert uids["worker"] == {nobody.uid} and uids["beat"] == {nobody.uid}, uids
        assert uids["web"] == {0, nobody.uid}, f"gunicorn's master is root, its workers are not: {uids}"
        for name in ("key_encryption_key", "secret_key"):
            info = (data_dir / name).stat()
            assert (info.st_uid, info.st_mode & 0o777) == (nobody.uid, 0o600), name
        assert (data_dir / "certpanel.sqlite3").stat().st_uid == nobody.uid
        assert f"run as {NOBODY}" in log.read_text()
    finally:
        panel.send_signal(signal.SIGINT)
        code = panel.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    assert code == 0, log.read_text()[-3000:]
