"""Domain errors whose message an admin can read as-is (views and commands show ``str(exc)``)."""

from certpanel.errors import PanelError


class RepositoryError(PanelError):
    """Base of every error the repository reports to an admin."""


class CryptoError(RepositoryError):
    """Input could not be parsed, decrypted or matched."""


class InUseError(RepositoryError):
    """The certificate is assigned to a service and cannot be removed."""


class NotFoundError(RepositoryError):
    """No certificate with that id."""


class KeyStoreError(RepositoryError):
    """The KEK is missing, malformed, or not the one the key was sealed with."""


class OrderBusy(RepositoryError):
    """Another worker holds this order's lease; try again shortly."""


class DnsError(RepositoryError):
    """A DNS update or lookup failed, or a DNS setting is wrong; the message names the server, zone or key.

    ``field`` names the input an admin should correct ("zone", "server", "tsig_name", "tsig_secret"), so a form can
    put the message next to it; "" when no single input is to blame."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class DnsUnavailable(DnsError):
    """The DNS server did not answer (timeout, connection refused, unreachable, SERVFAIL): trying again later may
    work, unlike a refusal."""
