from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from certpanel.middleware import session_clock_start


class CertpanelConfig(AppConfig):
    name = "certpanel"
    verbose_name = "certpanel"

    def ready(self) -> None:
        user_logged_in.connect(session_clock_start, dispatch_uid="certpanel.session_clock_start")
        # Connects the receiver that counts a login as a recent authentication (the Django way to load signals:
        # reauth reaches the auth forms, which must not load before the apps are ready).
        from certpanel.access import reauth  # noqa: F401
        from certpanel.audit import receivers

        user_logged_in.connect(receivers.on_logged_in, dispatch_uid="certpanel.audit.login")
        user_logged_out.connect(receivers.on_logged_out, dispatch_uid="certpanel.audit.logout")
        user_login_failed.connect(receivers.on_login_failed, dispatch_uid="certpanel.audit.login_failed")


class PanelAdminConfig(admin_apps.AdminConfig):
    """Installed in place of ``django.contrib.admin``: its default site (``admin.site``) lets in admins only."""

    default = False  # named in INSTALLED_APPS; "certpanel" itself stays CertpanelConfig
    default_site = "certpanel.admin_site.PanelAdminSite"
