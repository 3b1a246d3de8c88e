"""vsftpd: explicit (AUTH TLS) or implicit TLS. It reads the certificate only at start-up (SIGHUP
re-reads vsftpd.conf, not the certificate), so deploying means a restart."""

from __future__ import annotations

from services.daemons.base import Adapter, SnippetContext


class Vsftpd(Adapter):
    def snippet(self, context: SnippetContext) -> str:
        files = context.files
        lines = [
            "# /etc/vsftpd.conf",
            "ssl_enable=YES",
            f"rsa_cert_file={files.get('fullchain')}",
            f"rsa_private_key_file={files.get('key')}",
            "force_local_logins_ssl=YES        # no password before AUTH TLS",
            "force_local_data_ssl=YES",
        ]
        if context.protocol == "ftps":
            lines += ["implicit_ssl=YES", f"listen_port={context.port}"]
        return "\n".join(lines) + "\n"


# vsftpd has no configuration check of its own: `true` stands in for it.
ADAPTER = Vsftpd(
    "vsftpd", "vsftpd", ("fullchain", "key"), ("true",), ("systemctl", "restart", "vsftpd"), "/etc/vsftpd.conf"
)
