from django.apps import AppConfig


class ServicesConfig(AppConfig):
    name = "services"
    verbose_name = "Services"

    def ready(self) -> None:
        # Imported here, not at the top: apps.py is loaded before the models are, and the receivers need them.
        from services import receivers  # noqa: F401 - importing connects the receivers
