"""Generic target: write the files at the paths you give; then the listener's action, or its host-set commands."""

from __future__ import annotations

from services.daemons.base import Adapter, SnippetContext


class GenericFiles(Adapter):
    def snippet(self, context: SnippetContext) -> str:
        lines = ["# Files written for this listener:"]
        lines += [f"#   {kind}: {path}" for kind, path in context.files.paths.items()]
        for name, files in context.sni:
            lines += [f"#   {name}: " + ", ".join(f"{k} {p}" for k, p in files.paths.items())]
        return "\n".join(lines) + "\n"


ADAPTER = GenericFiles("files", "Files + commands", ("cert", "chain", "fullchain", "key"), (), (), "")
