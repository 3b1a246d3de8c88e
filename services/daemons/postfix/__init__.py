"""Postfix: key and full chain in one `smtpd_tls_chain_files` line; submission and smtps in master.cf."""

from __future__ import annotations

from services.daemons.base import Adapter, SnippetContext


class Postfix(Adapter):
    def snippet(self, context: SnippetContext) -> str:
        files = context.files
        lines = [
            "# /etc/postfix/main.cf",
            f"smtpd_tls_chain_files = {files.get('key')}, {files.get('fullchain')}",
            "smtpd_tls_security_level = may",
            "smtpd_tls_auth_only = yes          # no AUTH before STARTTLS",
        ]
        if context.sni:
            lines += [
                "tls_server_sni_maps = hash:/etc/postfix/sni_maps",
                "",
                "# /etc/postfix/sni_maps (then postmap -F)",
            ]
            lines += [f"{name} {sni.get('key')} {sni.get('fullchain')}" for name, sni in context.sni]
        if context.protocol == "submission":
            lines += [
                "",
                "# /etc/postfix/master.cf",
                f"{context.port} inet n - y - - smtpd",
                "  -o syslog_name=postfix/submission",
                "  -o smtpd_tls_security_level=encrypt",
                "  -o smtpd_sasl_auth_enable=yes",
            ]
        if context.protocol == "smtps":
            lines += [
                "",
                "# /etc/postfix/master.cf",
                f"{context.port} inet n - y - - smtpd",
                "  -o syslog_name=postfix/smtps",
                "  -o smtpd_tls_wrappermode=yes",
                "  -o smtpd_sasl_auth_enable=yes",
            ]
        return "\n".join(lines) + "\n"


ADAPTER = Postfix(
    "postfix", "Postfix", ("fullchain", "key"), ("postfix", "check"), ("postfix", "reload"), "/etc/postfix/main.cf"
)
