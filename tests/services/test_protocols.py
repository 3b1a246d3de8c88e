"""The protocol table (services/protocols.py) is the one place protocol knowledge lives."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from services.daemons import ADAPTERS
from services.probes import starttls
from services.protocols import BY_CODE, CHOICES, PROTOCOLS, Protocol

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "services" / "protocols.py"
CODES = {protocol.code for protocol in PROTOCOLS}
DIALOGUES = {
    function
    for name, function in inspect.getmembers(starttls, inspect.isfunction)
    if name.endswith("_dialogue") and function.__module__ == starttls.__name__
}


def test_codes_labels_and_ports_are_unique() -> None:
    assert len(BY_CODE) == len(PROTOCOLS)
    assert len({p.label for p in PROTOCOLS}) == len(PROTOCOLS)
    assert len({p.port for p in PROTOCOLS}) == len(PROTOCOLS)
    assert all(1 <= p.port <= 65535 for p in PROTOCOLS)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.code)
def test_every_protocol_has_a_known_daemon_and_a_way_to_start_tls(protocol: Protocol) -> None:
    assert protocol.daemon in ADAPTERS
    assert protocol.starttls is None or protocol.starttls in DIALOGUES
    assert protocol.implicit is (protocol.starttls is None)


def test_every_starttls_dialogue_is_spoken_by_some_protocol() -> None:
    assert {p.starttls for p in PROTOCOLS if p.starttls is not None} == DIALOGUES


def test_choices_show_label_and_default_port() -> None:
    assert dict(CHOICES)["imaps"] == "IMAPS (993)"
    assert [code for code, _ in CHOICES] == [p.code for p in PROTOCOLS]


def _modules_listing_protocols() -> list[str]:
    """Modules other than the table holding a dict keyed by two or more protocol codes: a second table."""
    found = []
    for package in ("certpanel", "repository", "services"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == TABLE or "migrations" in path.parts:  # a migration is a frozen record of the past
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Dict):
                    keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                    if len(keys & CODES) >= 2:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_other_module_keeps_a_table_of_protocols() -> None:
    assert _modules_listing_protocols() == []
