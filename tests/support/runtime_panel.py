"""The panel as an admin runs it: `manage.py runpanel` and the CLI from the runtime venv, HTTP to its web process.

Nothing here imports the panel: every step goes through a process started with the runtime venv's python (built
from requirements/base.txt alone), with an environment built from scratch, so nothing of the test run leaks in.
"""

from __future__ import annotations

import contextlib
import html
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.totp import Authenticator

ROOT = Path(__file__).resolve().parents[2]
# What a login shell passes on; proxies are left out on purpose (loopback only, and requests honours them).
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def user_env(**settings: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {**env, "PYTHONUNBUFFERED": "1", **settings}


@dataclass
class Reply:
    status: int
    url: str
    body: str


@dataclass
class Panel:
    python: Path
    data_dir: Path
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)
    authenticator: Authenticator | None = None
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("wb") as handle:
            self.process = subprocess.Popen(
                [str(self.python), "manage.py", "runpanel"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # SIGINT goes to runpanel only, as Ctrl-C reaches the supervisor
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cli(self, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        """`python manage.py ARGS` with the runtime venv, as the README's CLI reference says."""
        return subprocess.run(
            [str(self.python), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_ok(self, *args: str, timeout: float = 150) -> str:
        done = self.cli(*args, timeout=timeout)
        assert done.returncode == 0, f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
        return done.stdout

    def cli_json(self, *args: str, timeout: float = 150) -> Any:
        return json.loads(self.cli_ok(*args, "--json", timeout=timeout))

    def request(self, path: str, data: dict[str, str] | None = None) -> Reply:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies)
        )
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        headers = {"Referer": self.base_url + path} if data is not None else {}
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers)
        try:
            with opener.open(request, timeout=10) as response:
                return Reply(response.status, response.url, response.read().decode(errors="replace"))
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.url, error.read().decode(errors="replace"))

    def health(self) -> dict[str, Any] | None:
        try:
            reply = self.request("/health/")
        except OSError:
            return None
        return json.loads(reply.body) if reply.status == 200 else None

    def login(self, user: str, password: str) -> Reply:
        """As a user logs in: the password, then two-factor login. The first time, the panel sets it up: the
        authenticator takes the secret the page shows, and the recovery codes it shows once are kept here."""
        form = self.request("/login/")
        reply = self.request("/login/", {"csrfmiddlewaretoken": _csrf(form), "username": user, "password": password})
        step = urllib.parse.urlsplit(reply.url)
        if step.path == "/login/two-factor/setup/":
            secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', reply.body)
            assert secret, f"no secret on the two-factor setup page:\n{reply.body[-2000:]}"
            self.authenticator = Authenticator(secret.group(1))
            shown = self._submit(reply, {"code": self.authenticator.code()})
            self.recovery_codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", shown.body)
            onward = re.search(r'href="([^"]+)">I have saved them', shown.body)
            assert onward, f"no recovery codes after the two-factor setup:\n{shown.body[-2000:]}"
            return self.request(html.unescape(onward.group(1)))
        if step.path == "/login/two-factor/":
            assert self.authenticator, "the panel asks for a code, but two-factor login was never set up here"
            return self._submit(reply, {"code": self.authenticator.code()})
        return reply

    def _submit(self, page: Reply, fields: dict[str, str]) -> Reply:
        """Post a page's form back to it, with its CSRF token and hidden `next`."""
        target = urllib.parse.urlsplit(page.url)
        following = re.search(r'name="next" value="([^"]*)"', page.body)
        data = {"csrfmiddlewaretoken": _csrf(page), **fields}
        if following:
            data["next"] = html.unescape(following.group(1))
        return self.request(f"{target.path}?{target.query}" if target.query else target.path, data)

    def processes(self) -> list[int]:
        """Every process running with this panel's data dir: runpanel, gunicorn, the worker and its pool, beat."""
        marker = f"CERTPANEL_DATA_DIR={self.data_dir}\0".encode()
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if marker in (proc / "environ").read_bytes():
                        found.append(int(proc.name))
        return found

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C: SIGINT to runpanel, which stops web, worker and beat and exits."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def kill_leftovers(self) -> None:
        """After a failed run only: SIGKILL what this panel started (found by its data dir), never anything else."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.interrupt(timeout=30)
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _csrf(page: Reply) -> str:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert page.status == 200 and token, f"no form at {page.url} ({page.status})"
    return token.group(1)


def wait_until(condition: Any, *, timeout: float, what: str, panel: Panel | None = None) -> Any:
    deadline, problem = time.monotonic() + timeout, f"timed out after {timeout} s waiting for {what}"
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if panel is not None and panel.process is not None and panel.process.poll() is not None:
            problem = f"runpanel exited with code {panel.process.returncode} while waiting for {what}"
            break
        time.sleep(0.2)
    tail = panel.output()[-4000:] if panel else ""
    raise AssertionError(f"{problem}\n{tail}")
