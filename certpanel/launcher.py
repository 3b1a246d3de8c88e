"""`make run`: web (gunicorn), Celery worker and Celery beat as one foreground process group.

Children run in their own sessions so that Ctrl-C reaches only this supervisor, which then stops
them in order and waits; if any child dies, the others are stopped too (no half-running panel).

Started as root with CERTPANEL_WORKER_USER set, the panel's processes run as that user: the Celery worker (which
writes daemon files and runs reloads), beat, and gunicorn's workers (its master stays root only to bind the
port). The data dir is handed to that user first: they all read the key-encryption key and share the queue and,
on SQLite, the database — files one of them created as root the others could not read.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

STOP_TIMEOUT = 20.0
# Seconds a gunicorn worker may spend on one request (a slow client's upload included) before it is killed and
# replaced; said explicitly here, in the Dockerfile and in docker-compose.yml.
WEB_TIMEOUT = 30


@dataclass(frozen=True)
class Account:
    """The unprivileged user the panel's processes switch to (CERTPANEL_WORKER_USER)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # its supplementary groups too: a group-writable deploy root counts
    home: str


def account_of(name: str) -> Account:
    """ValueError, in words, for a user this host does not have."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ValueError(f"CERTPANEL_WORKER_USER names a user this host does not have: {name}") from None
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def hand_over(directory: Path, account: Account, *, directories_only_under: Path | None = None) -> None:
    """Give ``directory`` and everything in it to ``account`` (links themselves, never what they point to).

    Under ``directories_only_under`` (the deploy dir) only directories change hands: the files there belong to
    the daemons' owners, and replacing them needs only the directory.
    """
    keep = os.path.realpath(directories_only_under) if directories_only_under else None
    for top, dirs, files in os.walk(directory, followlinks=False):
        within = keep is not None and (os.path.realpath(top) + os.sep).startswith(keep + os.sep)
        names = [top, *(os.path.join(top, entry) for entry in dirs)]
        names += [] if within else [os.path.join(top, entry) for entry in files]
        for name in names:
            info = os.lstat(name)
            if (info.st_uid, info.st_gid) != (account.uid, account.gid):
                os.chown(name, account.uid, account.gid, follow_symlinks=False)


@dataclass
class Child:
    name: str
    argv: list[str]
    run_as: Account | None = None  # switched to before the program starts (Popen's user/group)
    process: subprocess.Popen[bytes] | None = None

    def popen_options(self) -> dict[str, Any]:
        if self.run_as is None:
            return {}
        account = self.run_as
        env = {**os.environ, "HOME": account.home, "USER": account.name, "LOGNAME": account.name}
        return {"user": account.uid, "group": account.gid, "extra_groups": list(account.groups), "env": env}


def children(
    *, listen: str, web_workers: int, beat_schedule: str, control_socket: str, run_as: Account | None = None
) -> list[Child]:
    """`control_socket`: gunicorn's (for `gunicornc -s PATH`), in the data dir; by default gunicorn would put it in
    ~/.gunicorn/, outside the data dir and shared by every panel on the host.

    `run_as`: the account worker and beat start as, and gunicorn switches its workers to."""
    python = sys.executable
    web_user = ["--user", str(run_as.uid), "--group", str(run_as.gid), "--initgroups"] if run_as is not None else []
    return [
        Child(
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "certpanel.wsgi:application",
                "--bind",
                listen,
                "--workers",
                str(web_workers),
                "--access-logfile",
                "-",
                "--timeout",
                str(WEB_TIMEOUT),
                "--graceful-timeout",
                "10",
                "--control-socket",
                control_socket,
                *web_user,
            ],
        ),
        Child(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "certpanel",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--hostname",
                "worker@%h",
            ],
            run_as,
        ),
        Child(
            "beat",
            [python, "-m", "celery", "-A", "certpanel", "beat", "--loglevel", "INFO", "--schedule", beat_schedule],
            run_as,
        ),
    ]


class Supervisor:
    def __init__(self, group: list[Child]) -> None:
        self.group = group
        self.stopping = False

    def start(self) -> None:
        for child in self.group:
            child.process = subprocess.Popen(child.argv, start_new_session=True, **child.popen_options())

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def wait(self) -> int:
        """Block until a signal or a child's death; then stop everything. Returns the exit code."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        failed: Child | None = None
        while not self.stopping and failed is None:
            time.sleep(0.2)
            failed = next((c for c in self.group if c.process and c.process.poll() is not None), None)
        if failed is not None and failed.process is not None:  # chosen above for its process
            print(f"certpanel: {failed.name} exited with code {failed.process.returncode}; stopping.", flush=True)
        self.stop()
        return 0 if failed is None else 1

    def stop(self) -> None:
        for child in self.group:
            if child.process and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.group:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        print("certpanel: stopped.", flush=True)
