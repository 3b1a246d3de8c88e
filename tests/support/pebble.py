"""Run Debian's Pebble (ACME test CA) and pebble-challtestsrv (its DNS) on free loopback ports.

Debian 12 package `pebble` 2.4.0 ships both binaries; nothing is downloaded. The TLS certificate Pebble serves
its API with is made here at run time with `cryptography`, so no key material is committed and a client can verify
TLS against `Pebble.ca_bundle_path` instead of switching verification off.

challtestsrv answers every A query with 127.0.0.1 (and no AAAA), so Pebble's validation authority connects to
127.0.0.1:<PebbleOptions.http_port> whatever name is being validated. Pebble keeps all state in memory: after
`restart()` accounts, orders and even its issuing root are new.

Config keys and PEBBLE_* variables below were read from the 2.4.0 binary and its shipped README/examples:
config struct {ListenAddress, ManagementListenAddress, HTTPPort, TLSPort, Certificate, PrivateKey,
OCSPResponderURL, ExternalAccountBindingRequired, ExternalAccountMACKeys, DomainBlocklist,
CertificateValidityPeriod}; no profiles, no ARI (renewalInfo) in this version.

`PebbleOptions(newer=True)` runs Pebble ≥ 2.7 instead (Debian unstable's 2.10, fetched into a cache by
tests/support/newer_pebble.py): ARI at /draft-ietf-acme-ari-03/renewalInfo/, profiles (config `profiles`, each with a
description and validityPeriod; an order without one gets a random profile), Retry-After (config `retryAfter`), and
the management endpoint /set-renewal-info/ that replaces the ARI answer for one certificate. It offers dns-account-01
and dns-persist-01 challenges beside http-01, tls-alpn-01 and dns-01. challtestsrv stays Debian's stable one: its
flags changed in 2.10 and it only serves Pebble's DNS here.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.newer_pebble import newer_pebble

PEBBLE_BIN = Path("/usr/bin/pebble")
CHALLTESTSRV_BIN = Path("/usr/bin/pebble-challtestsrv")
START_TIMEOUT = 20.0
LOOPBACK = "127.0.0.1"
# What a panel that talks to this Pebble needs in CERTPANEL_OUTBOUND_ALLOW: outbound fetches refuse loopback.
PEBBLE_ALLOW = LOOPBACK


class PebbleError(RuntimeError):
    pass


@dataclass
class PebbleOptions:
    http_port: int  # where Pebble's VA sends HTTP-01 requests (the responder under test listens there)
    nonce_reject: int = 0  # PEBBLE_WFE_NONCEREJECT percentage; Pebble's own default is 5
    validity_seconds: int | None = None  # certificateValidityPeriod; None (or 0) = Pebble's default, 5 years
    no_sleep: bool = True  # PEBBLE_VA_NOSLEEP=1; otherwise the VA sleeps 0-15 s before each validation
    authz_reuse: int = 0  # PEBBLE_AUTHZREUSE percentage; Pebble's own default is 50
    eab_required: bool = False  # externalAccountBindingRequired
    eab_keys: dict[str, str] | None = None  # externalAccountMACKeys: kid -> base64url HMAC key
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. PEBBLE_CHAIN_LENGTH, PEBBLE_VA_ALWAYS_VALID
    tls_port: int | None = None  # where the VA sends TLS-ALPN-01 requests; None = a free port nobody listens on
    newer: bool = False  # Pebble ≥ 2.7 from the cache (ARI, profiles, Retry-After); see the module docstring
    # Newer Pebble only: name -> {"description": str, "validityPeriod": seconds}. None = one "default" profile with
    # validity_seconds (the deprecated certificateValidityPeriod is not relied on).
    profiles: dict[str, dict[str, Any]] | None = None
    retry_after: dict[str, int] | None = None  # newer Pebble only: {"authz": s, "order": s} on polls
    dns_server: str | None = None  # host:port Pebble resolves with instead of its own challtestsrv (a real DNS server)


# Ports handed out by free_port() in this process: the kernel readily returns a just-closed ephemeral port again,
# and two harness objects must not both be told the same "free" port before either has bound it.
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port(*, udp: bool = False) -> int:
    """A loopback TCP port that is free right now (and free for UDP too when `udp`, as a DNS server needs both)."""
    for _ in range(200):
        with socket.socket() as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            if udp:
                try:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dgram:
                        dgram.bind((LOOPBACK, port))
                except OSError:
                    continue
        with _handed_out_lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise PebbleError("no free loopback port found")


def pebble_installed() -> bool:
    return PEBBLE_BIN.exists() and CHALLTESTSRV_BIN.exists()


def newer_pebble_or_skip() -> Path:
    """The cached Pebble ≥ 2.7 binary, or skip the test saying how to get it."""
    found = newer_pebble()
    if found is None or not CHALLTESTSRV_BIN.exists():
        pytest.skip("needs Pebble ≥ 2.7: `make check-system` fetches Debian unstable's (tests/support/newer_pebble.py)")
    return found.pebble


# Children still alive; killed at interpreter exit in case a test run never reached close().
_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    for proc in leftovers:
        with contextlib.suppress(PebbleError):
            _kill(proc)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    # SIGKILL on purpose: Pebble and challtestsrv hold nothing worth flushing, and a hard kill is what
    # "the CA crashed mid-order" tests want to simulate anyway.
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired as exc:
        raise PebbleError(f"pid {proc.pid} did not die after SIGKILL") from exc
    with _live_lock:
        _live.discard(proc)


_PR_SET_PDEATHSIG = 1
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not glibc/Linux: atexit is all we get
    _prctl = None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. Without it, a test run killed with SIGKILL (CI timeout, ^C twice)
    # would leave Pebble running. The kernel ties this to the *thread* that forked, so start Pebble from a thread
    # that outlives it (the pytest main thread does).
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _spawn(args: list[str], *, env: dict[str, str], log: BinaryIO, cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a ^C in the terminal reaches pytest, which then cleans up in order
        preexec_fn=_die_with_parent,
    )
    with _live_lock:
        _live.add(proc)
    return proc


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _lost_port_race(log: Path, since: int) -> bool:
    """Whether the run that began at byte `since` of `log` died because a port was taken after free_port()."""
    try:
        with log.open("rb") as handle:
            handle.seek(since)
            return b"address already in use" in handle.read()
    except OSError:
        return False


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    # Inherited PEBBLE_* would silently change behaviour under test; proxies must never see loopback traffic.
    dropped = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_") and k.lower() not in dropped}
    env.update(extra)
    return env


@dataclass
class ApiCertificate:
    """The CA a client trusts plus the leaf Pebble serves its ACME and management API with."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def make_api_certificate() -> ApiCertificate:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certpanel test Pebble API CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ApiCertificate(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM),
        cert_pem=leaf.public_bytes(serialization.Encoding.PEM),
        key_pem=leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


class _Child:
    """One harness-owned process: its log, the readiness wait, a retry when another process took a port
    between free_port() and bind(), and a SIGKILL stop."""

    label = "process"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None
        self._log_start = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _spawn(self) -> None:
        raise NotImplementedError

    def _probe(self) -> None:
        """Returns once the process answers; raises OSError/URLError/ValueError until then."""
        raise NotImplementedError

    def _new_ports(self) -> bool:
        """Pick fresh ports after a lost race; False when this instance must keep its ports."""
        raise NotImplementedError

    def _open_log(self) -> BinaryIO:
        self._log = self.log_path.open("ab")
        self._log_start = self._log.tell()
        return self._log

    def _start_retrying(self, timeout: float, url: str) -> None:
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready(timeout, url)
                return
            except PebbleError:
                lost_race = _lost_port_race(self.log_path, self._log_start)
                self.stop()
                if not lost_race or attempt == 2 or not self._new_ports():
                    raise

    def _wait_ready(self, timeout: float, url: str) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                break
            try:
                self._probe()
                return
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last_error = exc
                time.sleep(0.02)
        code = self._proc.poll() if self._proc is not None else None
        what = f"exited with code {code}" if code is not None else f"did not answer within {timeout:g}s"
        raise PebbleError(
            f"{self.label} {what} ({url}, last error {last_error!r}); log {self.log_path}:\n{_tail(self.log_path)}"
        )

    def stop(self) -> None:
        if self._proc is not None:
            _kill(self._proc)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


class ChallTestSrv(_Child):
    """pebble-challtestsrv used only as Pebble's DNS server; its own challenge listeners are switched off."""

    label = "pebble-challtestsrv"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir / "challtestsrv.log")
        self.workdir = workdir
        self.dns_port = free_port(udp=True)
        self.management_port = free_port()

    @property
    def dns_address(self) -> str:
        return f"{LOOPBACK}:{self.dns_port}"

    @property
    def management_url(self) -> str:
        return f"http://{LOOPBACK}:{self.management_port}"

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if not self.running:
            self._start_retrying(timeout, self.management_url)

    def _new_ports(self) -> bool:
        self.dns_port, self.management_port = free_port(udp=True), free_port()
        return True

    def _spawn(self) -> None:
        if not CHALLTESTSRV_BIN.exists():
            raise PebbleError(f"{CHALLTESTSRV_BIN} missing: apt-get install -y pebble")
        log = self._open_log()
        args = [
            str(CHALLTESTSRV_BIN),
            "-management",
            f"{LOOPBACK}:{self.management_port}",
            "-dns01",
            self.dns_address,
            # Empty disables a listener; the defaults (:5001, :5002, :5003 on all interfaces) would collide with
            # other test runs and, for :5002, with the responder under test.
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-defaultIPv4",
            LOOPBACK,
            # No AAAA answers: Go would otherwise try ::1 first, where the responder under test does not listen.
            "-defaultIPv6",
            "",
        ]
        self._proc = _spawn(args, env=_child_env({}), log=log, cwd=self.workdir)

    def _probe(self) -> None:
        # Doubles as the readiness probe and makes the "every name is 127.0.0.1" contract explicit.
        self.post("/set-default-ipv4", {"ip": LOOPBACK})

    def post(self, path: str, payload: dict[str, Any]) -> None:
        request = urllib.request.Request(self.management_url + path, data=json.dumps(payload).encode(), method="POST")
        with _opener().open(request, timeout=5) as response:
            if response.status != 200:
                raise PebbleError(f"challtestsrv {path} answered {response.status}")

    def add_a_record(self, host: str, ip: str = LOOPBACK) -> None:
        self.post("/add-a", {"host": host, "addresses": [ip]})

    def clear_a_record(self, host: str) -> None:
        self.post("/clear-a", {"host": host})


def _opener(context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
    # An empty ProxyHandler: loopback requests must never be routed through an HTTP(S)_PROXY from the environment.
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


class Pebble(_Child):
    """One Pebble process plus its own challtestsrv, on free loopback ports kept across restart()."""

    label = "pebble"

    def __init__(self, workdir: Path, options: PebbleOptions) -> None:
        super().__init__(Path(workdir) / "pebble.log")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.options = options
        self.port = free_port()
        self.management_port = free_port()
        self.tls_port = options.tls_port if options.tls_port is not None else free_port()
        self.config_path = self.workdir / "pebble-config.json"
        self.ca_bundle_path = self.workdir / "pebble-api-ca.pem"
        self.cert_path = self.workdir / "pebble-api-cert.pem"
        self.key_path = self.workdir / "pebble-api-key.pem"
        self.challtestsrv = ChallTestSrv(self.workdir)
        self.binary = newer_pebble_or_skip() if options.newer else PEBBLE_BIN
        self._started_once = False
        self._write_api_certificate()
        self._ssl_context = ssl.create_default_context(cafile=str(self.ca_bundle_path))
        self.last_start_seconds: float | None = None

    @property
    def directory_url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}/dir"

    @property
    def management_url(self) -> str:
        return f"https://{LOOPBACK}:{self.management_port}"

    def _write_api_certificate(self) -> None:
        api = make_api_certificate()
        self.ca_bundle_path.write_bytes(api.ca_pem)
        self.cert_path.write_bytes(api.cert_pem)
        self.key_path.touch(mode=0o600)
        self.key_path.write_bytes(api.key_pem)

    def _config(self) -> dict[str, Any]:
        opts = self.options
        pebble: dict[str, Any] = {
            "listenAddress": f"{LOOPBACK}:{self.port}",
            "managementListenAddress": f"{LOOPBACK}:{self.management_port}",
            "certificate": str(self.cert_path),
            "privateKey": str(self.key_path),
            "httpPort": opts.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": opts.eab_required,
        }
        if opts.eab_keys:
            pebble["externalAccountMACKeys"] = dict(opts.eab_keys)
        if opts.newer:
            pebble["profiles"] = opts.profiles or {
                "default": {"description": "certpanel test default", "validityPeriod": opts.validity_seconds or 0}
            }
            if opts.retry_after:
                pebble["retryAfter"] = dict(opts.retry_after)
        elif opts.validity_seconds is not None:
            pebble["certificateValidityPeriod"] = opts.validity_seconds
        return {"pebble": pebble}

    def _env(self) -> dict[str, str]:
        opts = self.options
        env = {
            "PEBBLE_WFE_NONCEREJECT": str(opts.nonce_reject),
            "PEBBLE_AUTHZREUSE": str(opts.authz_reuse),
        }
        if opts.no_sleep:
            env["PEBBLE_VA_NOSLEEP"] = "1"
        env.update(opts.extra_env)
        return _child_env(env)

    def start(self) -> None:
        """Start challtestsrv (unless running) and Pebble; return once the directory and management API answer."""
        if self.running:
            return
        if not self.binary.exists():
            raise PebbleError(f"{self.binary} missing: apt-get install -y pebble")
        began = time.monotonic()
        if self.options.dns_server is None:
            self.challtestsrv.start()
        self._start_retrying(START_TIMEOUT, self.directory_url)
        self._started_once = True
        self.last_start_seconds = time.monotonic() - began

    def _new_ports(self) -> bool:
        # After the first successful start the ports are part of the contract (restart() keeps the URL),
        # so only a never-started instance may move to other ports.
        if self._started_once:
            return False
        self.port, self.management_port = free_port(), free_port()
        if self.options.tls_port is None:
            self.tls_port = free_port()
        return True

    def _spawn(self) -> None:
        self.config_path.write_text(json.dumps(self._config(), indent=2))
        log = self._open_log()
        log.write(f"--- harness: starting pebble at {datetime.now(UTC).isoformat()}\n".encode())
        log.flush()
        args = [
            str(self.binary),
            "-config",
            str(self.config_path),
            "-dnsserver",
            self.options.dns_server or self.challtestsrv.dns_address,
            # 2.4.0 defaults to false but upstream announced the default will flip; pin it.
            "-strict=false",
        ]
        self._proc = _spawn(args, env=self._env(), log=log, cwd=self.workdir)

    def _get(self, url: str, timeout: float = 5) -> bytes:
        with _opener(self._ssl_context).open(url, timeout=timeout) as response:
            body: bytes = response.read()
            return body

    def _probe(self) -> None:
        directory = json.loads(self._get(self.directory_url, timeout=2))
        if "newNonce" not in directory:
            raise PebbleError(f"unexpected directory: {directory}")
        # The management listener comes up in its own goroutine; tests fetch roots right after start().
        self._get(self.management_url + "/roots/0", timeout=2)

    def restart(self) -> None:
        """Kill and start Pebble on the same ports; accounts, orders and issuing roots do not survive.

        stop() kills Pebble only: challtestsrv stays up, so the restarted Pebble finds its DNS unchanged."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self.challtestsrv.stop()

    def __enter__(self) -> Pebble:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def roots_pem(self) -> bytes:
        """Pebble's issuing root, regenerated on every (re)start."""
        return self._get(self.management_url + "/roots/0")

    def intermediates_pem(self) -> bytes:
        return self._get(self.management_url + "/intermediates/0")

    def cert_status(self, serial: int) -> dict[str, Any]:
        """Revocation status of an issued certificate, as Pebble's management API reports it."""
        status: dict[str, Any] = json.loads(self._get(f"{self.management_url}/cert-status-by-serial/{serial:x}"))
        return status

    def set_renewal_info(self, certificate_pem: str, window: dict[str, str] | str) -> None:
        """Newer Pebble: what its ARI endpoint answers for this certificate from now on (a suggestedWindow dict,
        or any string, even malformed JSON, to test a client's error handling)."""
        answer = window if isinstance(window, str) else json.dumps({"suggestedWindow": window})
        body = json.dumps({"Certificate": certificate_pem, "ARIResponse": answer}).encode()
        request = urllib.request.Request(self.management_url + "/set-renewal-info/", data=body, method="POST")
        with _opener(self._ssl_context).open(request, timeout=5) as response:
            if response.status != 200:
                raise PebbleError(f"set-renewal-info answered {response.status}")

    def add_a_record(self, host: str, ip: str = LOOPBACK) -> None:
        """Point one name elsewhere than the default 127.0.0.1 (e.g. 127.0.0.2 to make validation fail)."""
        self.challtestsrv.add_a_record(host, ip)

    def log_tail(self, chars: int = 4000) -> str:
        return _tail(self.log_path, chars)


@contextlib.contextmanager
def running_pebble(workdir: Path, options: PebbleOptions) -> Iterator[Pebble]:
    """Pebble started for the body of the `with`, and always killed afterwards, also when the body raises."""
    pebble = Pebble(workdir, options)
    try:
        pebble.start()
        yield pebble
    finally:
        pebble.close()
