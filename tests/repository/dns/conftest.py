"""One private DNS world per test process (tests/support/dns_server.py): a BIND primary on 127.0.0.1 and two Knot
servers on 127.0.0.2 and 127.0.0.3, all at one free port, with the zones every DNS test uses. Tests write under
names of their own (a token in each), so they share the servers without reset."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from repository.dns.names import ServerAddress, tsig_secret
from repository.dns.rfc2136 import Tsig
from tests.support.dns_server import Knot, Named, PortTaken, TsigKey, Zone, free_shared_port, named_installed

PRIMARY, SECONDARY, STALE = "127.0.0.1", "127.0.0.2", "127.0.0.3"


@dataclass
class DnsWorld:
    key: TsigKey
    port: int
    primary: Named
    secondary: Knot
    stale: Knot

    @property
    def server(self) -> ServerAddress:
        return ServerAddress(PRIMARY, self.port)

    @property
    def tsig(self) -> Tsig:
        return Tsig(self.key.name, self.key.algorithm, tsig_secret(self.key.secret))

    def provider_fields(self, zone: str) -> dict[str, str]:
        return {
            "zone": zone,
            "server": self.primary.server,
            "tsig_name": self.key.name,
            "tsig_algorithm": self.key.algorithm,
            "tsig_secret": self.key.secret,
        }


def zones() -> list[Zone]:
    ns1 = {"ns1.example.test": PRIMARY}
    return [
        Zone(
            "example.test",
            ns1,
            records=[
                "www IN A 192.0.2.10",
                # CNAME delegation: one hop into another provider's zone, two hops, and a loop
                "_acme-challenge.deleg IN CNAME deleg.challenges.delegated.test.",
                "_acme-challenge.chain IN CNAME hop1.example.test.",
                "hop1 IN CNAME chain.challenges.delegated.test.",
                "_acme-challenge.loop IN CNAME loop1.example.test.",
                "loop1 IN CNAME _acme-challenge.loop.example.test.",
                "alias IN CNAME www.example.test.",
                # a child zone on this server, and one delegated to servers elsewhere
                "sub IN NS ns1.example.test.",
                "away IN NS ns.elsewhere.invalid.",
            ],
        ),
        Zone("sub.example.test", ns1),
        # its own _acme-challenge delegated elsewhere: `dns test` then uses _certpanel-test
        Zone("delegated.test", {"ns1.delegated.test": PRIMARY}, records=["_acme-challenge CNAME x.example.test."]),
        Zone("readonly.test", {"ns1.readonly.test": PRIMARY}, updatable=False),
        Zone("multi.test", {"ns1.multi.test": PRIMARY, "ns2.multi.test": SECONDARY}, notify=[SECONDARY]),
        Zone("stale.test", {"ns1.stale.test": PRIMARY, "ns3.stale.test": STALE}),
    ]


@pytest.fixture(scope="session")
def dns_world() -> Iterator[DnsWorld]:
    if not named_installed():
        pytest.fail("the DNS tests need Debian's bind9 and knot (make test installs them)")
    key = TsigKey.generate()
    for attempt in range(3):  # test processes run side by side: one may take the port another just chose
        base = Path(tempfile.mkdtemp(prefix="certpanel-dns-"))
        started: list[Named] = []
        try:
            world = _start_world(base, key, started)
            break
        except PortTaken:
            for server in started:
                server.stop()
            shutil.rmtree(base, ignore_errors=True)
            if attempt == 2:
                raise
    try:
        yield world
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _start_world(base: Path, key: TsigKey, started: list[Named]) -> DnsWorld:
    port = free_shared_port((PRIMARY, SECONDARY, STALE))
    all_zones = zones()
    by_name = {zone.name: zone for zone in all_zones}
    secondary_zone = Zone("multi.test", by_name["multi.test"].nameservers, primary=f"{PRIMARY} port {port}")
    servers = [
        Named(base / "primary", address=PRIMARY, port=port, key=key, zones=all_zones),
        Knot(base / "secondary", address=SECONDARY, port=port, key=key, zones=[secondary_zone]),
        Knot(base / "stale", address=STALE, port=port, key=key, zones=[by_name["stale.test"]]),
    ]
    for server in servers:
        started.append(server)
        server.start()
    primary, secondary, stale = servers
    assert isinstance(secondary, Knot) and isinstance(stale, Knot)
    return DnsWorld(key, port, primary, secondary, stale)


@pytest.fixture
def token() -> str:
    """A label no other test uses: tests share the servers."""
    return "t" + secrets.token_hex(4)
