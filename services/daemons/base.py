"""What every daemon adapter knows: which files it reads, the snippet to paste once, its check and reload.

Pure: no Django. A deployment (services/deploy.py) asks the adapter which files to write and which
commands to run. Commands are argument lists, run without a shell; a listener picks one of the named actions
(services/daemons/__init__.py) in the web form, and only the host's CLI can give it commands of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("cert", "chain", "fullchain", "key", "combined")


@dataclass(frozen=True)
class Files:
    """Paths one certificate is written to, by kind (only the kinds a daemon reads)."""

    paths: dict[str, str]

    def get(self, kind: str) -> str:
        return self.paths.get(kind, f"<{kind} path>")


@dataclass(frozen=True)
class SnippetContext:
    name: str
    protocol: str
    port: int
    server_name: str
    files: Files
    sni: list[tuple[str, Files]] = field(default_factory=list)


@dataclass(frozen=True)
class Adapter:
    code: str
    label: str
    kinds: tuple[str, ...]
    check_cmd: tuple[str, ...]  # argv; () when the daemon has no configuration check
    reload_cmd: tuple[str, ...]  # argv; () when nothing needs to be told
    config_file: str

    def snippet(self, context: SnippetContext) -> str:
        raise NotImplementedError
