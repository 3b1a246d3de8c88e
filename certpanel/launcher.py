"""`make run`: web (gunicorn), Celery worker and Celery beat as one foreground process group.

Children run in their own sessions so that Ctrl-C reaches only this supervisor, which then stops
them in order and waits; if any child dies, the others are stopped too (no half-running panel).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

STOP_TIMEOUT = 20.0
# Seconds a gunicorn worker may spend on one request (a slow client's upload included) before it is killed and
# replaced; said explicitly here, in the Dockerfile and in docker-compose.yml.
WEB_TIMEOUT = 30


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None


def children(*, listen: str, web_workers: int, beat_schedule: str, control_socket: str) -> list[Child]:
    """`control_socket`: gunicorn's (for `gunicornc -s PATH`), in the data dir; by default gunicorn would put it in
    ~/.gunicorn/, outside the data dir and shared by every panel on the host."""
    python = sys.executable
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
        ),
        Child(
            "beat",
            [python, "-m", "celery", "-A", "certpanel", "beat", "--loglevel", "INFO", "--schedule", beat_schedule],
        ),
    ]


class Supervisor:
    def __init__(self, group: list[Child]) -> None:
        self.group = group
        self.stopping = False

    def start(self) -> None:
        for child in self.group:
            child.process = subprocess.Popen(child.argv, start_new_session=True)

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
