"""`make run`'s panel: embedded SQLite and file broker, web + real worker + beat, Ctrl-C stops all three."""

import json
import os
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import child_env, free_port, start, wait_for

pytestmark = pytest.mark.integration


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def _processes_with(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_runpanel_serves_web_worker_and_beat_on_embedded_defaults(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "panel.log"
    env = child_env(
        CERTPANEL_DATA_DIR=str(data_dir),
        CERTPANEL_HOSTNAME="mail.example.org",
        CERTPANEL_HEARTBEAT_SECONDS="1",
        CERTPANEL_LISTEN=f"127.0.0.1:{port}",
    )
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
        env.pop(name, None)
    panel = start(["manage.py", "runpanel"], env, log)
    try:
        wait_for(lambda: (_health(port) or {}).get("worker_ok"), timeout=90, what="web and worker", log=log)
        first = _health(port)["worker_last_seen"]  # type: ignore[index]
        # beat → file broker → worker → database: the heartbeat moves on.
        wait_for(lambda: _health(port)["worker_last_seen"] != first, timeout=30, what="a beat-driven task", log=log)
        output = log.read_text()
        assert "password:" in output and f"http://localhost:{port}/" in output
        assert (data_dir / "certpanel.sqlite3").exists() and (data_dir / "broker" / "queue").is_dir()
        # gunicorn's control socket: in the data dir, not ~/.gunicorn/ shared by every panel on the host.
        assert (data_dir / "gunicorn.ctl").is_socket()
        for secret in ("secret_key", "key_encryption_key"):
            assert (data_dir / secret).stat().st_mode & 0o777 == 0o600
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/certificates/", timeout=5) as response:
            assert "/login/" in response.url
    finally:
        panel.send_signal(signal.SIGINT)
        code = panel.wait(timeout=60)
    assert code == 0, log.read_text()[-2000:]
    assert "certpanel: stopped." in log.read_text()
    wait_for(lambda: not _processes_with(str(data_dir)), timeout=10, what="all children to exit")
    assert _health(port) is None
