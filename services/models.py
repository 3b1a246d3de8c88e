from django.db import models

from services.protocols import CHOICES


class Listener(models.Model):
    """A secure port of a daemon and the repository certificate it serves.

    PROTECT on the certificate is what makes "delete refused while in use" hold even for
    code paths that forget to ask.
    """

    name = models.CharField(max_length=100, unique=True)
    protocol = models.CharField(max_length=16, choices=CHOICES)
    host = models.CharField(max_length=255, default="127.0.0.1")
    port = models.PositiveIntegerField()
    certificate = models.ForeignKey(
        "repository.Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="listeners"
    )

    class Meta:
        ordering = ["port", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"
