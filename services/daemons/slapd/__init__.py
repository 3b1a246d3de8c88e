"""OpenLDAP slapd: cn=config TLS attributes; StartTLS on 389 and LDAPS on 636."""

from __future__ import annotations

from services.daemons.base import Adapter, SnippetContext


class Slapd(Adapter):
    def snippet(self, context: SnippetContext) -> str:
        files = context.files
        return (
            "\n".join(
                [
                    "# ldapmodify -Y EXTERNAL -H ldapi:/// -f tls.ldif",
                    "dn: cn=config",
                    "changetype: modify",
                    "replace: olcTLSCertificateFile",
                    f"olcTLSCertificateFile: {files.get('fullchain')}",
                    "-",
                    "replace: olcTLSCertificateKeyFile",
                    f"olcTLSCertificateKeyFile: {files.get('key')}",
                    "",
                    '# /etc/default/slapd: SLAPD_SERVICES="ldap:/// ldaps:/// ldapi:///"',
                ]
            )
            + "\n"
        )


ADAPTER = Slapd(
    "slapd", "OpenLDAP slapd", ("fullchain", "key"), ("slaptest", "-u"), ("systemctl", "restart", "slapd"), "cn=config"
)
