"""acme/accounts.py through `manage.py acme register`, against Pebble."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.acme_stack import acme_stack
from tests.support.pebble import PebbleOptions


@pytest.mark.integration
def test_external_account_binding_is_required_and_then_accepted(cli, tmp_path: Path, write_file) -> None:
    hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    options = PebbleOptions(http_port=0, eab_required=True, eab_keys={"kid-1": hmac})
    with acme_stack(tmp_path, pebble=options, worker=False) as stack:
        bundle = write_file("ca.pem", stack.pebble.ca_bundle_path.read_bytes())
        base = ["acme", "register", "--directory", stack.pebble.directory_url, "--agree-tos", "--ca-bundle", bundle]
        refused = cli(*base)
        assert refused.code == 1 and "External Account Binding" in refused.error_line
        accepted = cli(
            *base, "--eab-kid", "kid-1", "--eab-hmac-file", write_file("hmac", hmac.encode() + b"\n"), "--json"
        )
        assert accepted.code == 0, accepted.err
        assert json.loads(accepted.out)["eab_kid"] == "kid-1"
