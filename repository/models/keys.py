from django.conf import settings
from django.db import models


class PrivateKey(models.Model):
    """A private key, sealed under the key-encryption key (repository/keystore.py).

    ``sealed_pem`` never holds plaintext: it is AES-256-GCM over a PKCS#8 PEM that is itself
    passphrase-encrypted when ``has_passphrase`` is set.
    """

    key_type = models.CharField(max_length=16)
    sealed_pem = models.BinaryField()
    has_passphrase = models.BooleanField(default=False)
    public_key_sha256 = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.key_type} key {self.public_key_sha256[:16]}"


class KeyExport(models.Model):
    """Audit trail: who took a private key out of the panel, and in which form."""

    certificate = models.ForeignKey("repository.Certificate", on_delete=models.CASCADE, related_name="key_exports")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor = models.CharField(max_length=150)
    export_format = models.CharField(max_length=16)
    exported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-exported_at"]

    def __str__(self) -> str:
        return f"{self.actor} exported {self.export_format} at {self.exported_at:%Y-%m-%d %H:%M}"
