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
