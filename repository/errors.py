"""Domain errors whose message an admin can read as-is (views and commands show ``str(exc)``)."""


class RepositoryError(Exception):
    """Base of every error the repository reports to an admin."""


class CryptoError(RepositoryError):
    """Input could not be parsed, decrypted or matched."""


class ChainIncompleteError(CryptoError):
    """The chain lacks an intermediate the panel could not fetch."""


class InUseError(RepositoryError):
    """The certificate is assigned to a service and cannot be removed."""


class NotFoundError(RepositoryError):
    """No certificate with that id."""
