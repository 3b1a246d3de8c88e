from django.db import models


class Heartbeat(models.Model):
    """Last sign of life from a background process, so the UI can tell when workers are down."""

    name = models.CharField(max_length=40, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen:%Y-%m-%d %H:%M:%S}"


class BrokerOutage(models.Model):
    """The work queue could not be reached (one row while it lasts): the pages say so, nothing is lost.

    Written when a dispatch fails, deleted by the next good dispatch or by the worker's heartbeat.
    """

    since = models.DateTimeField()
    last_seen = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"broker unreachable since {self.since:%Y-%m-%d %H:%M:%S}"
