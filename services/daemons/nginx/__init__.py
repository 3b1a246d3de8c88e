"""nginx (webmail): full chain and key per `server` block; one block per SNI name."""

from __future__ import annotations

from services.daemons.base import Adapter, Files, SnippetContext


def _server(port: int, name: str, files: Files) -> list[str]:
    return [
        "server {",
        f"    listen {port} ssl;",
        f"    server_name {name};",
        f"    ssl_certificate {files.get('fullchain')};",
        f"    ssl_certificate_key {files.get('key')};",
        "    # ... your webmail location blocks",
        "}",
    ]


class Nginx(Adapter):
    def snippet(self, context: SnippetContext) -> str:
        lines = ["# /etc/nginx/sites-available/webmail", *_server(context.port, context.server_name, context.files)]
        for name, files in context.sni:
            lines += ["", *_server(context.port, name, files)]
        return "\n".join(lines) + "\n"


ADAPTER = Nginx(
    "nginx",
    "nginx",
    ("fullchain", "key"),
    ("nginx", "-t"),
    ("nginx", "-s", "reload"),
    "/etc/nginx/sites-available/webmail",
)
