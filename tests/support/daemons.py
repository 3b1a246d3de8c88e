"""Real TLS daemons from Debian packages, each in a directory of its own, on free loopback ports.

Debian 12 packages: dovecot-imapd dovecot-pop3d postfix vsftpd slapd ldap-utils nginx (plus openssl for probing).
Every config below names the certificate and key by FILE PATH, so a test (or the panel under test) can replace
those files atomically and then run `Daemon.reload_cmd`, exactly as a deployment would.

Facts the code relies on, each checked against the Debian 12 builds (dovecot 2.3.19, postfix 3.7, vsftpd 3.0.3,
slapd 2.5.13, nginx 1.22):

* dovecot reads the files when its config process parses `ssl_cert = <path`; `doveadm reload` (SIGHUP) makes new
  logins use the new files. Dovecot counts a connection whose remote address equals its local address as secured
  and then never advertises LOGINDISABLED, so it listens on 127.0.0.2 by default: a client's loopback source
  address is 127.0.0.1, and the plaintext-auth policy is then visible as it would be from the network.
* postfix smtpd loads the files when an smtpd process starts and keeps them for its life (up to max_idle=100 s
  idle, max_use=100 sessions): without a reload, an idle smtpd keeps serving the old certificate while a newly
  forked one (a second concurrent client, or after max_idle) already serves the new one. `postfix reload` makes
  master replace them all.
* vsftpd loads the files once, in the listener, at start-up. SIGHUP re-reads vsftpd.conf but NOT the certificate,
  so Debian's `systemctl reload vsftpd` (kill -HUP) does not deploy a certificate. Only a restart does: the
  harness runs vsftpd under a small supervisor whose SIGHUP means "restart the daemon", and reload_cmd sends it.
* slapd loads the files at start-up; replacing olcTLSCertificateFile/olcTLSCertificateKeyFile in cn=config (even
  with the same paths) over ldapi makes it build a new TLS context at once. A modify with a key that does not
  match the certificate fails with LDAP result 80 AND leaves slapd without a usable TLS context until a good
  modify (or restart), and `slaptest` does not look at the TLS files at all.
* nginx: `nginx -s reload` is asynchronous; old workers serve the old certificate for ~100-300 ms after the
  command returns. `Daemon.reload()` waits for the old workers to stop listening; anything else that runs
  reload_cmd itself (the panel) must retry its probe for a moment.

Process hygiene: every daemon runs in the foreground under `python daemons.py _supervise`, started in a new
session. The supervisor is a child subreaper (vsftpd session processes call setsid() and would otherwise escape
any process-group kill), kills its whole tree on SIGTERM, and gets SIGTERM itself when the process that started
it dies (PR_SET_PDEATHSIG), so even a SIGKILLed test run leaves no daemon behind; it also removes the daemon's
short-path directories in /tmp as it exits. `Daemon.stop()` sweeps the session as well, and an atexit hook stops
whatever is left. Start daemons from a thread that outlives them (the pytest main thread): the kernel ties
PDEATHSIG to the thread that forked.

Unprivileged daemon processes (postfix's master/tlsmgr as `postfix`, dovecot's mail processes as `nobody`) must
reach some directories by absolute path; pytest's basetemp is 0700, so those directories move to /tmp when the
workdir is not reachable (see _runtime_dir). Everything that reads a key file runs as root.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import quote

LOOPBACK = "127.0.0.1"
# Dovecot treats remote == local as a secured connection (see module docstring); clients reach 127.0.0.2 from
# 127.0.0.1, so dovecot listens there.
DOVECOT_HOST = "127.0.0.2"
# The static passdb accepts any user name with this password (no system users needed).
DOVECOT_PASSWORD = "certpanel-test"
START_TIMEOUT = 20.0
RELOAD_TIMEOUT = 20.0
DEBIAN_PACKAGES = ("dovecot-imapd", "dovecot-pop3d", "postfix", "vsftpd", "slapd", "ldap-utils", "nginx", "openssl")
# openssl s_client -starttls value for each protocol name used in Daemon.ports; the rest are TLS from the start.
STARTTLS: dict[str, str] = {
    "imap": "imap",
    "pop3": "pop3",
    "smtp": "smtp",
    "submission": "smtp",
    "ftp": "ftp",
    "ldap": "ldap",
}

_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/lib/postfix/sbin"])
_SUPERVISOR_MARK = b"certpanel-supervise:"
# Unix socket paths must fit in sun_path (108 bytes); dovecot nests sockets a few levels below base_dir.
_MAX_SOCKET_DIR = 60


class DaemonError(RuntimeError):
    pass


@dataclass
class TlsPaths:
    fullchain: Path  # PEM: leaf + intermediates
    key: Path  # PEM private key (unencrypted)


# --------------------------------------------------------------------------------------------------------------
# Ports


_handed_out: set[tuple[str, int]] = set()
_handed_out_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on `host` right now and never handed out before by this process."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        with _handed_out_lock:
            if (host, port) not in _handed_out:
                _handed_out.add((host, port))
                return port
    raise DaemonError("no free loopback port found")


def _port_busy(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers do not count
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------------------
# Processes


_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not glibc/Linux: atexit is all we get
    _prctl = None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, session id, state) of a live process, None if gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[3]), fields[0]


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is not None:
            children.setdefault(stat[0], []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _session_members(sid: int) -> set[int]:
    members = set()
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is not None and stat[1] == sid:
            members.add(pid)
    return members


def _alive(pid: int) -> bool:
    return _proc_stat(pid) is not None


def _listening_ports(pids: set[int]) -> set[int]:
    """TCP ports on which one of `pids` holds a listening socket."""
    inodes: set[int] = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[9]) in inodes:  # 0A = LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def _signal_all(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _bin(name: str) -> str:
    found = shutil.which(name, path=_SEARCH_PATH)
    if found is None:
        raise DaemonError(f"{name} not found: apt-get install -y --no-install-recommends {' '.join(DEBIAN_PACKAGES)}")
    return found


def installed() -> list[str]:
    """Which of the daemon programs this harness needs are missing (empty when all are there)."""
    needed = ["dovecot", "doveadm", "doveconf", "postfix", "postconf", "vsftpd", "slapd", "slaptest"]
    needed += ["ldapmodify", "nginx", "openssl"]
    return [name for name in needed if shutil.which(name, path=_SEARCH_PATH) is None]


# --------------------------------------------------------------------------------------------------------------
# Daemon


_live: set[Daemon] = set()
_live_lock = threading.Lock()
_runtime_paths: list[Path] = []  # every directory _runtime_dir() made in /tmp, started or not


@atexit.register
def _stop_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    for daemon in leftovers:
        with contextlib.suppress(Exception):
            daemon.stop()
    for path in _runtime_paths:
        shutil.rmtree(path, ignore_errors=True)


@dataclass(eq=False)
class Daemon:
    name: str  # "dovecot", "postfix", "vsftpd", "slapd", "nginx"
    ports: dict[str, int]  # protocol -> port
    workdir: Path
    check_cmd: list[str]  # config check a deployment runs before reloading
    reload_cmd: list[str]  # makes the daemon serve the current certificate files
    log_path: Path
    host: str = LOOPBACK  # every port listens on this address only
    # Writes the config for the current ports and returns the foreground command to run.
    render: Callable[[Daemon], list[str]] | None = field(default=None, repr=False)
    reload_marker: bytes | None = None  # log text that appears once a reload has taken effect
    reload_failure_marker: bytes | None = None  # log text that means the reload was refused
    restart_on_hup: bool = False  # reload = supervisor restarts the daemon (vsftpd)
    runtime_dirs: list[Path] = field(default_factory=list)  # short socket dirs outside workdir, removed by stop()
    start_seconds: float = field(default=0.0, init=False)  # how long the last start() took
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: BinaryIO | None = field(default=None, init=False, repr=False)
    _command: list[str] = field(default_factory=list, init=False, repr=False)

    # -- context manager -------------------------------------------------------------------------------------
    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- state ----------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def main_pid(self) -> int | None:
        """The daemon's own top process (dovecot/postfix/nginx master, vsftpd listener, slapd), None if down."""
        if not self.running:
            return None
        try:
            pid = int(self._pid_file().with_name("daemon.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def pids(self) -> set[int]:
        """Every live process this daemon consists of (supervisor, daemon, workers, sessions)."""
        if self._proc is None:
            return set()
        root = self._proc.pid
        found = _descendants(root) | _session_members(root)
        if _alive(root):
            found.add(root)
        return found

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start in the background; return once every port accepts TCP, raise with the log tail otherwise."""
        if self.running:
            return
        for attempt in range(3):
            offset = self._log_size()
            started = time.monotonic()
            self._spawn()
            try:
                self._wait_ports(timeout, what="start")
            except DaemonError:
                lost_race = self._port_taken(offset)
                self.stop()
                if not lost_race or attempt == 2:
                    raise
                # Another process bound a port between free_port() and the daemon's bind(): take new ones.
                self.ports = {proto: free_port(self.host) for proto in self.ports}
                continue
            self.start_seconds = time.monotonic() - started
            return

    def reload(self, timeout: float = RELOAD_TIMEOUT) -> None:
        """Run reload_cmd; return once the daemon serves what the files now hold and every port accepts again."""
        if not self.running:
            raise DaemonError(f"{self.name} is not running")
        offset = self._log_size()
        result = subprocess.run(
            self.reload_cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False, cwd=self.workdir
        )
        if result.returncode != 0:
            raise DaemonError(
                f"{self.name} reload {shlex.join(self.reload_cmd)} exited {result.returncode}:\n"
                f"{(result.stdout + result.stderr).decode(errors='replace')}\nlog {self.log_path}:\n"
                f"{_tail(self.log_path)}"
            )
        if self.reload_marker is not None:
            deadline = time.monotonic() + timeout
            while True:
                new = self._log_since(offset)
                if self.reload_failure_marker is not None and self.reload_failure_marker in new:
                    raise DaemonError(f"{self.name} refused the reload; log {self.log_path}:\n{_tail(self.log_path)}")
                if self.reload_marker in new:
                    break
                if time.monotonic() > deadline or not self.running:
                    raise DaemonError(
                        f"{self.name} did not log {self.reload_marker!r} within {timeout:g}s of reloading; "
                        f"log {self.log_path}:\n{_tail(self.log_path)}"
                    )
                time.sleep(0.02)
        self._wait_ports(timeout, what="reload")

    def stop(self) -> None:
        """Kill everything this daemon started, children and setsid()'d grandchildren included."""
        proc, self._proc = self._proc, None
        if proc is not None:
            root = proc.pid
            pids = _descendants(root) | _session_members(root)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(root, signal.SIGTERM)  # the supervisor stops the daemon gracefully, then its tree
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
            pids |= _descendants(root) | _session_members(root)
            deadline = time.monotonic() + 5
            while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
                _signal_all({pid for pid in pids if _alive(pid)}, signal.SIGTERM)
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(root, signal.SIGKILL)
            _signal_all(pids | _session_members(root), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        for path in self.runtime_dirs:
            shutil.rmtree(path, ignore_errors=True)
        with _live_lock:
            _live.discard(self)

    # -- helpers ---------------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        if self.render is None:
            raise DaemonError(f"{self.name}: nothing to run")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for path in self.runtime_dirs:
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o755)
        command = self._command = self.render(self)
        args = [sys.executable, str(Path(__file__).resolve()), "_supervise", str(self._pid_file())]
        if self.restart_on_hup:
            args.append("--restart-on-hup")
        for path in self.runtime_dirs:  # removed by the supervisor as it exits, even if this process was killed
            args += ["--remove", str(path)]
        self._log = self.log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}}
        env["PATH"] = _SEARCH_PATH
        self._proc = subprocess.Popen(
            [*args, "--", *command],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        with _live_lock:
            _live.add(self)

    def _wait_ports(self, timeout: float, *, what: str) -> None:
        """Until every port has a listening socket held by one of this daemon's processes.

        Ownership, not a connect(): a port someone else grabbed after free_port() accepts connections too, while
        the daemon is dying of EADDRINUSE (and probing TLS ports with bare connects only fills the logs).
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self._proc.poll() if self._proc is not None else None
                raise DaemonError(
                    f"{self.name} exited ({code}) during {what}; to see what it says, run: "
                    f"{shlex.join(self._command)}\nlog {self.log_path}:\n{self._tail()}"
                )
            listening = _listening_ports(self.pids())
            waiting = {proto: port for proto, port in self.ports.items() if port not in listening}
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise DaemonError(
                    f"{self.name}: {', '.join(f'{p}={n}' for p, n in waiting.items())} on {self.host} not listening "
                    f"{timeout:g}s into {what}; log {self.log_path}:\n{self._tail()}"
                )
            time.sleep(0.02)

    def _tail(self) -> str:
        return _tail(self.log_path)

    def _pid_file(self) -> Path:
        return _supervisor_pid_file(self.workdir)

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> bytes:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(offset)
                return handle.read()
        except OSError:
            return b""

    def _port_taken(self, offset: int) -> bool:
        """Whether the start that logged from `offset` on failed because another process holds one of the ports."""
        new = self._log_since(offset).lower()
        if b"already in use" in new or b"could not bind" in new:
            return True
        # postfix's master reports bind errors to syslog only and vsftpd exits 2 without a word: look for ourselves.
        return any(_port_busy(self.host, port) for port in self.ports.values())


# --------------------------------------------------------------------------------------------------------------
# Shared helpers for the factories


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    # Postfix will not read a table or main.cf younger than ~2 s (it might still be being written): it polls
    # every 0.3 s until the file is older, which made every fresh start 2.5 s slower.
    stamp = time.time() - 10
    os.utime(path, (stamp, stamp))


def _reachable(path: Path) -> bool:
    """Whether an unprivileged user can traverse every directory down to `path` (pytest's basetemp is 0700)."""
    return all(parent.stat().st_mode & 0o001 for parent in [*reversed(path.parents)] if parent.exists())


def _runtime_dir(workdir: Path, name: str, *, unprivileged: bool = False) -> tuple[Path, list[Path]]:
    """workdir/name, unless unix sockets below it would not fit in sun_path or (`unprivileged`) a daemon user
    could not reach it: then a directory of its own in /tmp, returned as well in the list stop() removes."""
    wanted = workdir / name
    if len(str(wanted)) <= _MAX_SOCKET_DIR and (not unprivileged or _reachable(wanted)):
        return wanted, []
    short = Path(tempfile.mkdtemp(prefix=f"certpanel-{name}-"))
    short.chmod(0o755)
    _runtime_paths.append(short)
    return short, [short]


def _supervisor_pid_file(workdir: Path) -> Path:
    return workdir / "supervisor.pid"


def _prepare(workdir: Path) -> Path:
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


# --------------------------------------------------------------------------------------------------------------
# dovecot


def dovecot(
    workdir: Path,
    tls: TlsPaths,
    *,
    sni: dict[str, TlsPaths] | None = None,
    plaintext_auth: bool = False,
    host: str = DOVECOT_HOST,
) -> Daemon:
    """IMAP STARTTLS ("imap"), IMAPS ("imaps"), POP3 STLS ("pop3"), POP3S ("pop3s").

    plaintext_auth=False: disable_plaintext_auth = yes (LOGINDISABLED before STARTTLS); True: LOGIN/USER allowed in
    the clear. Any user name logs in with DOVECOT_PASSWORD (static passdb/userdb; mail is stored as `nobody` in
    workdir/mail, or in a directory of its own in /tmp when `nobody` cannot reach workdir).
    """
    workdir = _prepare(workdir)
    conf = workdir / "dovecot.conf"
    # Mail processes run as `nobody` and reach base_dir (stats-writer) and their home by absolute path.
    base_dir, runtime = _runtime_dir(workdir, "run", unprivileged=True)
    mail_dir, mail_runtime = _runtime_dir(workdir, "mail", unprivileged=True)
    runtime += mail_runtime
    mail_user = pwd.getpwnam("nobody")
    log = workdir / "dovecot.log"
    doveconf, doveadm, dovecot_bin = _bin("doveconf"), _bin("doveadm"), _bin("dovecot")

    def render(d: Daemon) -> list[str]:
        (workdir / "state").mkdir(exist_ok=True)
        mail_dir.mkdir(exist_ok=True)
        os.chown(mail_dir, mail_user.pw_uid, mail_user.pw_gid)
        sni_blocks = "".join(
            f'local_name "{name}" {{\n  ssl_cert = <{paths.fullchain}\n  ssl_key = <{paths.key}\n}}\n'
            for name, paths in (sni or {}).items()
        )
        listeners = {
            "imap-login": [("imap", d.ports["imap"], False), ("imaps", d.ports["imaps"], True)],
            "pop3-login": [("pop3", d.ports["pop3"], False), ("pop3s", d.ports["pop3s"], True)],
        }
        services = ""
        for service, items in listeners.items():
            services += f"service {service} {{\n"
            for proto, port, ssl in items:
                services += f"  inet_listener {proto} {{\n    address = {d.host}\n    port = {port}\n"
                services += "    ssl = yes\n" if ssl else ""
                services += "  }\n"
            services += "}\n"
        _write(
            conf,
            f"""# certpanel test instance, generated by tests/support/daemons.py
base_dir = {base_dir}
state_dir = {workdir}/state
instance_name = certpanel-dovecot-{d.ports["imap"]}
log_path = {log}
protocols = imap pop3
listen = {d.host}
ssl = yes
ssl_cert = <{tls.fullchain}
ssl_key = <{tls.key}
disable_plaintext_auth = {"no" if plaintext_auth else "yes"}
auth_mechanisms = plain login
passdb {{
  driver = static
  args = password={DOVECOT_PASSWORD}
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={mail_dir}/%u
}}
mail_location = maildir:~/Maildir
{services}{sni_blocks}""",
        )
        return [dovecot_bin, "-F", "-c", str(conf)]

    return Daemon(
        name="dovecot",
        ports={proto: free_port(host) for proto in ("imap", "imaps", "pop3", "pop3s")},
        workdir=workdir,
        check_cmd=[doveconf, "-c", str(conf), "-n"],
        reload_cmd=[doveadm, "-c", str(conf), "reload"],
        log_path=log,
        host=host,
        render=render,
        reload_marker=b"SIGHUP received - reloading configuration",
        runtime_dirs=runtime,
    )


# --------------------------------------------------------------------------------------------------------------
# postfix


def postfix(workdir: Path, tls: TlsPaths, *, host: str = LOOPBACK) -> Daemon:
    """Ports "smtp" (STARTTLS offered, as on 25), "smtps" (wrapper mode, 465), "submission" (STARTTLS required, 587).

    Its own config_directory (workdir/etc), queue_directory and data_directory; every transport is `error:`, so
    nothing is ever delivered or relayed.
    """
    workdir = _prepare(workdir)
    etc, queue = workdir / "etc", workdir / "queue"
    # master and tlsmgr open files in data_directory as the postfix user, by absolute path (the queue is only ever
    # reached relative to master's working directory).
    data, runtime = _runtime_dir(workdir, "data", unprivileged=True)
    log = workdir / "postfix.log"
    postfix_bin, postconf = _bin("postfix"), _bin("postconf")
    daemon_dir = subprocess.run([postconf, "-dh", "daemon_directory"], capture_output=True, text=True, check=True)
    master = str(Path(daemon_dir.stdout.strip()) / "master")
    nowhere = "error:mail delivery is disabled in certpanel tests"

    def render(d: Daemon) -> list[str]:
        # Postfix checks ownership: queue_directory root-owned, its subdirectories postfix-owned (`postfix check`
        # creates and fixes them). Everything here is created by root, which is what it wants.
        queue.mkdir(exist_ok=True)
        queue.chmod(0o755)
        data.mkdir(exist_ok=True)
        owner = pwd.getpwnam("postfix")
        os.chown(data, owner.pw_uid, owner.pw_gid)
        data.chmod(0o700)
        etc.mkdir(exist_ok=True)
        etc.chmod(0o755)
        _write(
            etc / "main.cf",
            f"""# certpanel test instance, generated by tests/support/daemons.py
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.certpanel.test
mydomain = certpanel.test
myorigin = $myhostname
mydestination =
relayhost =
inet_interfaces = {d.host}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
default_transport = {nowhere}
relay_transport = {nowhere}
local_transport = {nowhere}
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
maillog_file = {log}
maillog_file_prefixes = {workdir}
smtpd_tls_chain_files = {tls.key}, {tls.fullchain}
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
""",
        )
        _write(
            etc / "master.cf",
            f"""# certpanel test instance, generated by tests/support/daemons.py; nothing runs chrooted
{d.host}:{d.ports["smtp"]} inet n - n - - smtpd
{d.host}:{d.ports["smtps"]} inet n - n - - smtpd -o syslog_name=postfix/smtps -o smtpd_tls_wrappermode=yes
{d.host}:{d.ports["submission"]} inet n - n - - smtpd -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
showq unix n - n - - showq
proxymap unix - - n - - proxymap
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
""",
        )
        check = subprocess.run(
            [postfix_bin, "-c", str(etc), "check"], capture_output=True, stdin=subprocess.DEVNULL, check=False
        )
        if check.returncode != 0:
            raise DaemonError(f"postfix check failed ({check.returncode}); log {log}:\n{_tail(log)}")
        # master -s: stay in the foreground, stdout (the log) kept; it is a session leader already.
        return [master, "-c", str(etc), "-s"]

    return Daemon(
        name="postfix",
        ports={proto: free_port(host) for proto in ("smtp", "smtps", "submission")},
        workdir=workdir,
        check_cmd=[postfix_bin, "-c", str(etc), "check"],
        reload_cmd=[postfix_bin, "-c", str(etc), "reload"],
        log_path=log,
        host=host,
        render=render,
        reload_marker=b"reload -- version",
        runtime_dirs=runtime,
    )


# --------------------------------------------------------------------------------------------------------------
# vsftpd


def vsftpd(workdir: Path, tls: TlsPaths, *, implicit: bool = False, host: str = LOOPBACK) -> Daemon:
    """Explicit FTPS ("ftp", AUTH TLS) or, with implicit=True, implicit FTPS ("ftps"): one listener per instance.

    vsftpd reads the certificate only at start-up (SIGHUP does not re-read it), so reload_cmd asks the supervisor to
    restart vsftpd. Anonymous login (user "anonymous" or "ftp") into an empty read-only root; one passive port.
    """
    workdir = _prepare(workdir)
    conf = workdir / "vsftpd.conf"
    log = workdir / "vsftpd.log"
    pid_file = _supervisor_pid_file(workdir)
    proto = "ftps" if implicit else "ftp"
    vsftpd_bin = _bin("vsftpd")
    pasv_port = free_port(host)

    def render(d: Daemon) -> list[str]:
        empty, root = workdir / "empty", workdir / "ftproot"
        for path in (empty, root):
            path.mkdir(exist_ok=True)
            path.chmod(0o755)  # vsftpd refuses a secure_chroot_dir or anon root writable by the ftp user
        _write(
            conf,
            f"""# certpanel test instance, generated by tests/support/daemons.py
listen=YES
listen_ipv6=NO
listen_address={d.host}
listen_port={d.ports[proto]}
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root={root}
local_enable=NO
write_enable=NO
secure_chroot_dir={empty}
connect_from_port_20=NO
pasv_enable=YES
pasv_address={d.host}
pasv_min_port={pasv_port}
pasv_max_port={pasv_port}
ssl_enable=YES
implicit_ssl={"YES" if implicit else "NO"}
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
force_local_logins_ssl=NO
force_local_data_ssl=NO
require_ssl_reuse=NO
ssl_ciphers=HIGH
rsa_cert_file={tls.fullchain}
rsa_private_key_file={tls.key}
syslog_enable=NO
xferlog_enable=YES
xferlog_std_format=NO
vsftpd_log_file={log}
log_ftp_protocol=YES
seccomp_sandbox=NO
""",
        )
        return [vsftpd_bin, str(conf)]

    return Daemon(
        name="vsftpd",
        ports={proto: free_port(host)},
        workdir=workdir,
        check_cmd=["true"],
        reload_cmd=["sh", "-c", f'kill -HUP "$(cat {shlex.quote(str(pid_file))})"'],
        log_path=log,
        host=host,
        render=render,
        reload_marker=_SUPERVISOR_MARK + b" restarted",
        restart_on_hup=True,
    )


# --------------------------------------------------------------------------------------------------------------
# slapd


SLAPD_SUFFIX = "dc=example,dc=com"
SLAPD_ROOT_DN = "cn=admin,dc=example,dc=com"
SLAPD_ROOT_PASSWORD = "certpanel-test"


def slapd(workdir: Path, tls: TlsPaths, *, host: str = LOOPBACK) -> Daemon:
    """Ports "ldap" (StartTLS) and "ldaps"; cn=config (made from slapd.conf at each start) and an empty mdb database.

    TLSCertificateFile takes the full chain (slapd sends the intermediates). reload_cmd is an ldapmodify over the
    instance's ldapi socket that replaces the TLS file attributes with the same paths: slapd then loads the files
    again, without a restart. It runs as root (no -u), so it reads root-only key files.
    """
    workdir = _prepare(workdir)
    conf = workdir / "slapd.conf"
    conf_dir = workdir / "slapd.d"
    log = workdir / "slapd.log"
    reload_ldif = workdir / "reload-tls.ldif"
    sock_dir, runtime = _runtime_dir(workdir, "ldapi")
    ldapi = "ldapi://" + quote(str(sock_dir / "ldapi"), safe="")
    slapd_bin, slaptest, ldapmodify = _bin("slapd"), _bin("slaptest"), _bin("ldapmodify")
    root_dn = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"

    def render(d: Daemon) -> list[str]:
        db = workdir / "db"
        db.mkdir(exist_ok=True)
        sock_dir.mkdir(exist_ok=True)
        shutil.rmtree(conf_dir, ignore_errors=True)
        conf_dir.mkdir()
        _write(
            conf,
            f"""# certpanel test instance, generated by tests/support/daemons.py (converted to {conf_dir} at start)
include /etc/ldap/schema/core.schema
pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile {tls.fullchain}
TLSCertificateKeyFile {tls.key}

database config
access to * by dn.exact="{root_dn}" manage by * none

database mdb
suffix "{SLAPD_SUFFIX}"
rootdn "{SLAPD_ROOT_DN}"
rootpw {SLAPD_ROOT_PASSWORD}
directory {db}
maxsize 16777216
""",
        )
        _write(
            reload_ldif,
            f"""dn: cn=config
changetype: modify
replace: olcTLSCertificateFile
olcTLSCertificateFile: {tls.fullchain}
-
replace: olcTLSCertificateKeyFile
olcTLSCertificateKeyFile: {tls.key}
-
""",
        )
        urls = f"ldap://{d.host}:{d.ports['ldap']}/ ldaps://{d.host}:{d.ports['ldaps']}/ {ldapi}"
        # -d keeps slapd in the foreground (256 = stats: one line per connection/operation, to stderr = the log).
        return [slapd_bin, "-d", "256", "-f", str(conf), "-F", str(conf_dir), "-h", urls]

    return Daemon(
        name="slapd",
        ports={proto: free_port(host) for proto in ("ldap", "ldaps")},
        workdir=workdir,
        check_cmd=[slaptest, "-u", "-F", str(conf_dir)],
        reload_cmd=[ldapmodify, "-Q", "-Y", "EXTERNAL", "-H", ldapi, "-f", str(reload_ldif)],
        log_path=log,
        host=host,
        render=render,
        runtime_dirs=runtime,
    )


# --------------------------------------------------------------------------------------------------------------
# nginx


def nginx(workdir: Path, tls: TlsPaths, *, sni: dict[str, TlsPaths] | None = None, host: str = LOOPBACK) -> Daemon:
    """Port "https": a default server plus one `server_name` block per SNI name; each answers 200 with its name."""
    workdir = _prepare(workdir)
    conf = workdir / "nginx.conf"
    log = workdir / "error.log"
    nginx_bin = _bin("nginx")
    base = [nginx_bin, "-c", str(conf), "-p", str(workdir), "-e", str(log)]

    def server(listen: str, name: str, paths: TlsPaths, extra: str = "") -> str:
        return f"""  server {{
    listen {listen} ssl{extra};
    server_name {name};
    ssl_certificate {paths.fullchain};
    ssl_certificate_key {paths.key};
    location / {{ return 200 "{name}\\n"; }}
  }}
"""

    def render(d: Daemon) -> list[str]:
        (workdir / "tmp").mkdir(exist_ok=True)
        listen = f"{d.host}:{d.ports['https']}"
        servers = server(listen, "_", tls, " default_server")
        servers += "".join(server(listen, name, paths) for name, paths in (sni or {}).items())
        temp = "".join(
            f"  {kind}_temp_path {workdir}/tmp/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user www-data;\n" if os.geteuid() == 0 else ""
        _write(
            conf,
            f"""# certpanel test instance, generated by tests/support/daemons.py
daemon off;
master_process on;
worker_processes 1;
{user}pid {workdir}/nginx.pid;
error_log {log} notice;
events {{ worker_connections 64; }}
http {{
  access_log off;
{temp}{servers}}}
""",
        )
        return base

    return Daemon(
        name="nginx",
        ports={"https": free_port(host)},
        workdir=workdir,
        check_cmd=[nginx_bin, "-t", "-c", str(conf), "-p", str(workdir), "-e", str(log)],
        reload_cmd=[nginx_bin, "-s", "reload", "-c", str(conf), "-p", str(workdir), "-e", str(log)],
        log_path=log,
        host=host,
        render=render,
        # Old workers log this when they close their listening sockets: from then on only new workers accept.
        reload_marker=b"gracefully shutting down",
        reload_failure_marker=b"[emerg]",
    )


# --------------------------------------------------------------------------------------------------------------
# Probing (independent of the panel's own code: openssl s_client, as an operator would check by hand)


_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)


def served_chain(
    host: str, port: int, protocol: str, servername: str | None = None, *, timeout: float = 15.0
) -> list[bytes]:
    """DER certificates the server sends (leaf first), via `openssl s_client -showcerts [-starttls ...]`."""
    cmd = [_bin("openssl"), "s_client", "-connect", f"{host}:{port}", "-showcerts"]
    cmd += ["-servername", servername] if servername else ["-noservername"]
    if protocol in STARTTLS:
        cmd += ["-starttls", STARTTLS[protocol]]
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    chain = [base64.b64decode(b"".join(block.split())) for block in _PEM_CERT.findall(result.stdout)]
    if not chain:
        raise DaemonError(
            f"no certificate from {shlex.join(cmd)} (exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr).decode(errors='replace')[-3000:]}"
        )
    return chain


def sha256_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest().upper()


# --------------------------------------------------------------------------------------------------------------
# Supervisor: `python tests/support/daemons.py _supervise PIDFILE [--restart-on-hup] [--remove DIR]... -- COMMAND...`


def _say(text: str) -> None:
    sys.stdout.write(f"{_SUPERVISOR_MARK.decode()} {text}\n")
    sys.stdout.flush()


def _supervise(argv: list[str]) -> int:
    pid_file = Path(argv[0])
    options = argv[1 : argv.index("--")]
    restart_on_hup = "--restart-on-hup" in options
    remove = [Path(options[i + 1]) for i, option in enumerate(options) if option == "--remove"]
    command = argv[argv.index("--") + 1 :]
    if _prctl is not None:
        # Orphans (vsftpd's setsid()'d session processes, workers of a dying master) become our children.
        _prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    flags = {"hup": False, "term": False}

    def on_hup(signum: int, frame: object) -> None:
        flags["hup"] = True

    def on_term(signum: int, frame: object) -> None:
        flags["term"] = True

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def spawn() -> int:
        pid = os.fork()
        if pid == 0:  # child: default signal dispositions, die with the supervisor, become the daemon
            try:
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                _die_with_parent()
                os.execv(command[0], command)
            finally:
                os._exit(127)
        return pid

    def reap() -> dict[int, int]:
        done: dict[int, int] = {}
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return done
            if pid == 0:
                return done
            done[pid] = os.waitstatus_to_exitcode(status)

    def stop_main(pid: int, grace: float, *, force: bool) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if pid in reap() or not _alive(pid):
                return
            time.sleep(0.02)
        if not force:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            reap()
            time.sleep(0.02)

    def stop_tree() -> None:
        deadline = time.monotonic() + 5
        while (rest := _descendants(os.getpid())) and time.monotonic() < deadline:
            _signal_all(rest, signal.SIGTERM)
            time.sleep(0.05)
            reap()
        _signal_all(_descendants(os.getpid()), signal.SIGKILL)
        time.sleep(0.05)
        reap()

    daemon_pid_file = pid_file.with_name("daemon.pid")
    pid_file.write_text(f"{os.getpid()}\n")
    main = spawn()
    daemon_pid_file.write_text(f"{main}\n")
    _say(f"started {shlex.join(command)} as pid {main}")
    code = 0
    while True:
        if flags["term"]:
            # A graceful stop first; a master still busy after 2 s (dovecot waits for login processes that wait
            # for an auth process it already stopped) gets its whole tree terminated by stop_tree().
            stop_main(main, 2.0, force=False)
            break
        if flags["hup"]:
            flags["hup"] = False
            if restart_on_hup:
                stop_main(main, 10.0, force=True)
                main = spawn()
                daemon_pid_file.write_text(f"{main}\n")
                _say(f"restarted {command[0]} as pid {main}")
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(main, signal.SIGHUP)
        exited = reap()
        if main in exited:
            code = exited[main] or 1  # a daemon in the foreground never exits on its own: that is a failure
            _say(f"{command[0]} (pid {main}) exited with {exited[main]}")
            break
        time.sleep(0.05)
    stop_tree()
    for path in (pid_file, daemon_pid_file):
        with contextlib.suppress(OSError):
            path.unlink()
    for path in remove:
        shutil.rmtree(path, ignore_errors=True)
    return code


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "_supervise":
    sys.exit(_supervise(sys.argv[2:]))
