"""One adapter per daemon, each in its own folder; looked up by Listener.daemon.

Which daemon usually serves a protocol is a column of the protocol table (services/protocols.py).
"""

from services.daemons import dovecot, files, nginx, postfix, slapd, vsftpd
from services.daemons.base import Adapter

ADAPTERS: dict[str, Adapter] = {
    module.ADAPTER.code: module.ADAPTER for module in (postfix, dovecot, vsftpd, slapd, nginx, files)
}
