"""One adapter per daemon, each in its own folder; looked up by Listener.daemon."""

from services.daemons import dovecot, files, nginx, postfix, slapd, vsftpd
from services.daemons.base import Adapter

ADAPTERS: dict[str, Adapter] = {
    module.ADAPTER.code: module.ADAPTER for module in (postfix, dovecot, vsftpd, slapd, nginx, files)
}
# Which daemon usually serves a protocol, for listeners created without one.
DEFAULT_DAEMON = {
    "smtp": "postfix",
    "submission": "postfix",
    "smtps": "postfix",
    "imap": "dovecot",
    "imaps": "dovecot",
    "pop3": "dovecot",
    "pop3s": "dovecot",
    "https": "nginx",
    "ftp": "vsftpd",
    "ftps": "vsftpd",
    "ldap": "slapd",
    "ldaps": "slapd",
}
