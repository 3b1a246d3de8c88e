"""Benchmark: probe all 12 default listeners concurrently, on real daemons on loopback (target < 1 s).

Starts Dovecot (IMAP, IMAPS, POP3, POP3S), Postfix (SMTP, Submission, SMTPS), vsftpd (FTP, FTPS),
slapd (LDAP, LDAPS) and nginx (HTTPS) from Debian's packages on free high ports (tests/support/daemons.py),
then times services.probes.run.probe_many over the twelve: STARTTLS dialogues, TLS handshakes, full
chains. Prints the median and worst of 20 rounds, and the same twelve probed one after the other.

Usage: .venv/bin/python bench/probe.py
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.probes.run import ProbeTarget, probe, probe_many
from tests.support import daemons
from tests.support.factories import ec_key, key_pem, make_ca, pem

ROUNDS = 20
NAME = "mail.example.com"


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="certpanel-probe-bench-"))
    ca, key = make_ca("Bench"), ec_key()
    tls = daemons.TlsPaths(workdir / "fullchain.pem", workdir / "key.pem")
    tls.fullchain.write_bytes(pem(ca.issue(key.public_key(), [NAME]), ca.intermediate))
    tls.key.write_bytes(key_pem(key))
    tls.key.chmod(0o600)
    with contextlib.ExitStack() as stack:
        started = [
            stack.enter_context(daemons.dovecot(workdir / "dovecot", tls)),
            stack.enter_context(daemons.postfix(workdir / "postfix", tls)),
            stack.enter_context(daemons.vsftpd(workdir / "ftp", tls)),
            stack.enter_context(daemons.vsftpd(workdir / "ftps", tls, implicit=True)),
            stack.enter_context(daemons.slapd(workdir / "slapd", tls)),
            stack.enter_context(daemons.nginx(workdir / "nginx", tls)),
        ]
        targets = [ProbeTarget(d.host, port, protocol, NAME) for d in started for protocol, port in d.ports.items()]
        assert len(targets) == 12, targets
        concurrent, serial = [], []
        for _ in range(ROUNDS):
            began = time.perf_counter()
            results = probe_many(targets)
            concurrent.append(time.perf_counter() - began)
            bad = [f"{r.protocol}:{r.port} {r.error}" for r in results if not r.served_fingerprint_sha256]
            if bad:
                raise SystemExit(f"probes failed: {bad}")
        for _ in range(3):
            began = time.perf_counter()
            for target in targets:
                probe(host=target.host, port=target.port, protocol=target.protocol, server_name=NAME)
            serial.append(time.perf_counter() - began)
    print(f"probing the 12 default listeners on real daemons (loopback), {ROUNDS} rounds")
    print(
        f"  concurrent: median {statistics.median(concurrent) * 1000:6.1f} ms, worst {max(concurrent) * 1000:6.1f} ms"
        "   (target < 1000 ms)"
    )
    print(f"  one by one: median {statistics.median(serial) * 1000:6.1f} ms")
    protocols = sorted({t.protocol for t in targets})
    print(f"  protocols: {', '.join(protocols)}")


if __name__ == "__main__":
    main()
