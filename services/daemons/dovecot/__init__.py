"""Dovecot: `ssl_cert = <file` / `ssl_key = <file`, and a `local_name` block per SNI name."""

from __future__ import annotations

from services.daemons.base import Adapter, SnippetContext


class Dovecot(Adapter):
    def snippet(self, context: SnippetContext) -> str:
        files = context.files
        lines = [
            "# /etc/dovecot/conf.d/10-ssl.conf",
            "ssl = required                     # no IMAP/POP3 password before STARTTLS",
            f"ssl_cert = <{files.get('fullchain')}",
            f"ssl_key = <{files.get('key')}",
        ]
        for name, sni in context.sni:
            lines += [
                f"local_name {name} {{",
                f"  ssl_cert = <{sni.get('fullchain')}",
                f"  ssl_key = <{sni.get('key')}",
                "}",
            ]
        lines += ["", "# /etc/dovecot/conf.d/10-auth.conf", "disable_plaintext_auth = yes"]
        return "\n".join(lines) + "\n"


ADAPTER = Dovecot(
    "dovecot",
    "Dovecot",
    ("fullchain", "key"),
    ("doveconf", "-n"),
    ("doveadm", "reload"),
    "/etc/dovecot/conf.d/10-ssl.conf",
)
