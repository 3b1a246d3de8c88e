"""The panel's one error base: every domain error carries a message an admin can read as-is.

Views turn it into a form error or a message (``str(exc)``), commands into ``error: …`` and an exit code
(certpanel/cli.py); each app derives its own few errors from it (repository/errors.py, services/errors.py).
"""


class PanelError(Exception):
    """Base of every error the panel reports to an admin."""
