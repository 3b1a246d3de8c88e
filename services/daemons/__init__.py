"""One adapter per daemon, each in its own folder; looked up by Listener.daemon.

Which daemon usually serves a protocol is a column of the protocol table (services/protocols.py).

What a deployment runs after writing the files is a named action, picked from a fixed set: a daemon's own check
and reload, or none. Commands outside this set are set on the host only (`manage.py services add/edit
--check-cmd/--reload-cmd`), never from the web.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from services.daemons import dovecot, files, nginx, postfix, slapd, vsftpd
from services.daemons.base import Adapter

ADAPTERS: dict[str, Adapter] = {
    module.ADAPTER.code: module.ADAPTER for module in (postfix, dovecot, vsftpd, slapd, nginx, files)
}


@dataclass(frozen=True)
class Action:
    """A check and a reload, as argument lists (no shell); () means that step runs nothing."""

    code: str
    label: str
    check: tuple[str, ...]
    reload: tuple[str, ...]


def _described(adapter: Adapter) -> str:
    steps = [shlex.join(argv) for argv in (adapter.check_cmd, adapter.reload_cmd) if argv and argv != ("true",)]
    return f"{adapter.label}: " + ", then ".join(steps)


NO_ACTION = Action("none", "None: write the files only", (), ())
# "" (the default) is the listener's daemon's own action.
ACTIONS: dict[str, Action] = {
    **{
        code: Action(code, _described(adapter), adapter.check_cmd, adapter.reload_cmd)
        for code, adapter in ADAPTERS.items()
        if adapter.reload_cmd
    },
    NO_ACTION.code: NO_ACTION,
}
ACTION_CHOICES = [("", "The daemon's own")] + [(code, action.label) for code, action in ACTIONS.items()]


def action_for(daemon: str, action: str) -> Action:
    """The named action a listener picked, or its daemon's own for "" (or a code no longer known)."""
    if action in ACTIONS:
        return ACTIONS[action]
    adapter = ADAPTERS[daemon]
    return Action(
        "", _described(adapter) if adapter.reload_cmd else NO_ACTION.label, adapter.check_cmd, adapter.reload_cmd
    )
