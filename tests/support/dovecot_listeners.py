"""Listeners on a real Dovecot for the tests that drive the panel end to end: the TLS files it starts on (a pair
from the test CA, written where the panel will deploy) and listener rows that carry its ports and commands."""

from __future__ import annotations

import shlex
from pathlib import Path

from services.models import Listener
from tests.support import daemons
from tests.support.factories import CA, ec_key, key_pem, pem


def tls_files(directory: Path, ca: CA, name: str) -> daemons.TlsPaths:
    """A certificate for `name` from the test CA and its key (0600) in `directory`, as Dovecot first reads them."""
    tls = daemons.TlsPaths(directory / "fullchain.pem", directory / "key.pem")
    directory.mkdir(parents=True, exist_ok=True)
    key = ec_key()
    tls.fullchain.write_bytes(pem(ca.issue(key.public_key(), [name]), ca.intermediate))
    tls.key.write_bytes(key_pem(key))
    tls.key.chmod(0o600)
    return tls


def dovecot_listener(
    daemon: daemons.Daemon, protocol: str, tls: daemons.TlsPaths, *, server_name: str, **fields: object
) -> Listener:
    """The listener for one of Dovecot's ports, deployed to the files it reads, checked and reloaded its way."""
    return Listener.objects.create(
        name=protocol.upper(),
        protocol=protocol,
        host=daemon.host,
        port=daemon.ports[protocol],
        daemon="dovecot",
        server_name=server_name,
        fullchain_path=str(tls.fullchain),
        key_path=str(tls.key),
        check_cmd=shlex.join(daemon.check_cmd),
        reload_cmd=shlex.join(daemon.reload_cmd),
        **fields,
    )
