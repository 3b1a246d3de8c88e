from django.db import models


class Heartbeat(models.Model):
    """Last sign of life from a background process, so the UI can tell when workers are down."""

    name = models.CharField(max_length=40, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen:%Y-%m-%d %H:%M:%S}"
