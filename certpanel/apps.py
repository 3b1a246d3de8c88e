from django.apps import AppConfig


class CertpanelConfig(AppConfig):
    name = "certpanel"
    verbose_name = "certpanel"

    def ready(self) -> None:
        # Connects the receiver that counts a login as a recent authentication (the Django way to load signals).
        from certpanel import reauth  # noqa: F401
