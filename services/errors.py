"""The errors services report to an admin (views and commands show ``str(exc)``, see certpanel/errors.py)."""

from certpanel.errors import PanelError


class ServiceError(PanelError):
    """Base of every error the services app reports to an admin."""


class ListenerError(ServiceError):
    """A listener's settings, or the certificate given to it, were refused."""


class ListenerNotFound(ServiceError):
    """No listener with that name or id."""


class DeployError(ServiceError):
    """A deployment step failed; the message says what, in words an admin can act on."""


class StagingError(ServiceError):
    """Files could not be written or swapped; the message names the disk, directory or file and why."""


class DeploymentLeased(ServiceError):
    """Another worker is driving this deployment: leave it to that worker."""


class ListenerBusy(ServiceError):
    """Another deployment of the same listener is in flight: try again once it has ended."""


class NeedsConfirmation(ListenerError):
    """The certificate may go there, but only once the admin confirms what the message says (a name it does not
    cover, a start date still to come)."""
