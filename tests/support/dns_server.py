"""Private BIND 9 (`named`, Debian package bind9) servers on loopback for the DNS-01 tests.

Each `Named` runs `named -g` (foreground, logs to its own file) with a config, zone files, pid file and session key
in a directory of its own, listening on ONE loopback address and port for TCP and UDP, never on port 53. The TSIG
key is generated at test time (`secrets`), nothing is committed. Several servers share one port on different
loopback addresses (127.0.0.1, 127.0.0.2, …: Linux routes all of 127/8 to `lo`), because the panel checks every
nameserver of a zone at the provider's port: ns1 and ns2 of a zone then differ by address only, as in real life.

Facts the code relies on (BIND 9.18, Debian 12):
* `update-policy { grant KEY zonesub TXT; }` lets KEY add and delete TXT anywhere in the zone; a zone without an
  update policy refuses updates (REFUSED).
* A zone the server does not serve: queries are REFUSED, updates NOTAUTH.
* An added TXT at a name that owns a CNAME is silently dropped (NOERROR): the panel must detect it itself.
* A secondary learns an update through NOTIFY + IXFR; `notify-delay 0` and `also-notify` at the shared port make
  that take milliseconds (notifies go to port 53 otherwise).

Process hygiene is pebble.py's: own session, PR_SET_PDEATHSIG (the process dies with the thread that started it),
SIGKILL at stop and at interpreter exit.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from tests.support.pebble import LOOPBACK, PebbleError, _handed_out, _handed_out_lock, _kill, _spawn, _tail

NAMED_BIN = Path("/usr/sbin/named")
START_TIMEOUT = 15.0


class PortTaken(PebbleError):
    """The port was free when chosen and taken before the server bound it: start again on another."""


def named_installed() -> bool:
    return NAMED_BIN.exists()


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str  # base64, as BIND's key statement and the panel's form take it

    @classmethod
    def generate(cls, name: str = "certpanel-test", algorithm: str = "hmac-sha256") -> TsigKey:
        return cls(name, algorithm, base64.b64encode(secrets.token_bytes(32)).decode("ascii"))


@dataclass
class Zone:
    """One zone on one server. ``records`` are zone-file lines relative to the origin (after SOA and NS)."""

    name: str
    nameservers: dict[str, str]  # NS host name (absolute, no dot) -> address; in-zone ones get their A record
    records: list[str] = field(default_factory=list)
    updatable: bool = True  # update-policy grants the test key TXT anywhere in the zone
    primary: str | None = None  # "address port" of the primary: this server is a secondary
    notify: list[str] = field(default_factory=list)  # also-notify addresses (at the shared port)

    def zone_file(self) -> str:
        apex = self.name + "."
        first_ns = next(iter(self.nameservers))
        lines = [
            "$TTL 60",
            f"@ IN SOA {first_ns}. hostmaster.{apex} 1 60 60 600 60",
            *(f"@ IN NS {ns}." for ns in self.nameservers),
        ]
        for ns, address in self.nameservers.items():
            if ns == self.name or ns.endswith("." + self.name):
                lines.append(f"{ns}. IN A {address}")
        return "\n".join([*lines, *self.records, ""])


def free_shared_port(addresses: tuple[str, ...]) -> int:
    """A port free for TCP and UDP on every one of ``addresses`` right now."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
        try:
            for address in addresses:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as sock:
                        sock.bind((address, port))
        except OSError:
            continue
        with _handed_out_lock:
            if port in _handed_out:
                continue
            _handed_out.add(port)
        return port
    raise PebbleError(f"no port free on all of {addresses}")


class Named:
    label = "named"

    def __init__(self, workdir: Path, *, address: str, port: int, key: TsigKey, zones: list[Zone]) -> None:
        self.workdir, self.address, self.port, self.key, self.zones = workdir, address, port, key, zones
        self.log_path = workdir / f"{type(self).__name__.lower()}.log"
        self._proc = None

    @property
    def server(self) -> str:
        """HOST:PORT as the panel's form and CLI take it."""
        return f"{self.address}:{self.port}"

    def _config(self) -> str:
        d = self.workdir
        parts = [
            "options {",
            f'  directory "{d}";',
            f'  pid-file "{d}/named.pid";',
            f'  session-keyfile "{d}/session.key";',
            f'  managed-keys-directory "{d}";',
            f"  listen-on port {self.port} {{ {self.address}; }};",
            "  listen-on-v6 { none; };",
            "  recursion no;",
            "  dnssec-validation no;",
            "  allow-transfer { any; };",
            "  notify explicit;",
            "  notify-delay 0;",
            "  max-journal-size 1m;",
            "};",
            "controls { };",
            f'key "{self.key.name}" {{ algorithm {self.key.algorithm}; secret "{self.key.secret}"; }};',
        ]
        for zone in self.zones:
            body = [f'  file "{zone.name}.db";']
            if zone.primary:
                body += ["  type secondary;", f"  primaries {{ {zone.primary}; }};"]
            else:
                body.append("  type primary;")
                if zone.updatable:
                    body.append(f'  update-policy {{ grant "{self.key.name}" zonesub TXT; }};')
                if zone.notify:
                    targets = " ".join(f"{a} port {self.port};" for a in zone.notify)
                    body.append(f"  also-notify {{ {targets} }};")
            parts += [f'zone "{zone.name}" {{', *body, "};"]
        return "\n".join([*parts, ""])

    def start(self) -> Named:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for zone in self.zones:
            if not zone.primary:
                (self.workdir / f"{zone.name}.db").write_text(zone.zone_file())
        conf = self.workdir / "named.conf"
        conf.write_text(self._config())
        log = self.log_path.open("ab")
        # -g: foreground, log to stderr (the log file); -n 1: one worker thread is plenty and starts faster.
        self._proc = _spawn([str(NAMED_BIN), "-g", "-n", "1", "-c", str(conf)], env={}, log=log, cwd=self.workdir)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        zone = self.zones[0].name
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                break
            try:
                # TCP: a refused connection says "not yet" at once, where UDP would wait out its timeout
                query = dns.message.make_query(zone, "SOA")
                response = dns.query.tcp(query, self.address, port=self.port, timeout=0.5)
                if response.answer:
                    return
            except (OSError, dns.exception.DNSException):
                pass
            time.sleep(0.05)
        log = self.log_path.read_bytes()
        # Another process took the port after free_shared_port(): named says "unable to listen", Knot "in use".
        if b"unable to listen" in log or b"in use" in log:
            raise PortTaken(f"{self.server} was taken by another process; log {self.log_path}")
        raise PebbleError(
            f"{self.label} on {self.server} did not serve {zone}; log {self.log_path}:\n{_tail(self.log_path)}"
        )

    def stop(self) -> None:
        if self._proc is not None:
            _kill(self._proc)
            self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def txt(self, name: str) -> list[str]:
        """What this server answers for TXT at ``name`` (its own view, no recursion)."""
        response = dns.query.tcp(dns.message.make_query(name, "TXT"), self.address, port=self.port, timeout=2)
        return [
            b"".join(rdata.strings).decode()
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TXT
            for rdata in rrset
        ]


KNOTD_BIN = Path("/usr/sbin/knotd")


class Knot(Named):
    """A second (or third) nameserver for a zone, from Debian's knot: `named` listens only on addresses of an
    interface (127.0.0.1 here), Knot on any configured address, so Knot serves 127.0.0.2, 127.0.0.3 … at the same
    port. A zone with ``primary`` is a secondary of that BIND server (NOTIFY + IXFR); one without is a static copy
    that never learns an update (the "nameserver that never serves the record" of the propagation tests)."""

    label = "knotd"

    def _config(self) -> str:
        d = self.workdir
        parts = [
            "server:",
            f'  rundir: "{d}"',
            f'  pidfile: "{d}/knot.pid"',
            f"  listen: {self.address}@{self.port}",
            "log:",
            "  - target: stderr",
            "    any: info",
            "database:",
            f'  storage: "{d}"',
            "template:",
            "  - id: default",
            f'    storage: "{d}"',
            '    file: "%s.db"',
        ]
        primaries = sorted({zone.primary for zone in self.zones if zone.primary})
        if primaries:
            parts.append("remote:")
            for index, primary in enumerate(primaries):
                address, _, port = primary.partition(" port ")
                parts += [f"  - id: primary{index}", f"    address: {address}@{port}"]
            parts.append("acl:")
            for index, primary in enumerate(primaries):
                parts += [
                    f"  - id: notify{index}",
                    f"    address: {primary.partition(' port ')[0]}",
                    "    action: notify",
                ]
        parts.append("zone:")
        for zone in self.zones:
            parts.append(f"  - domain: {zone.name}")
            if zone.primary:
                index = primaries.index(zone.primary)
                parts += [f"    master: primary{index}", f"    acl: notify{index}"]
        return "\n".join([*parts, ""])

    def start(self) -> Knot:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for zone in self.zones:
            if not zone.primary:
                (self.workdir / f"{zone.name}.db").write_text(zone.zone_file())
        conf = self.workdir / "knot.conf"
        conf.write_text(self._config())
        log = self.log_path.open("ab")
        self._proc = _spawn([str(KNOTD_BIN), "-c", str(conf)], env={}, log=log, cwd=self.workdir)
        log.close()
        self._wait_ready()
        return self
