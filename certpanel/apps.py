from django.apps import AppConfig


class CertpanelConfig(AppConfig):
    name = "certpanel"
    verbose_name = "certpanel"
