from typing import Any

from django.conf import settings

from certpanel.bootstrap import admin_ensure, default_certificate_ensure
from certpanel.cli import AdminCommand
from certpanel.hostname import HostnameChoice, first_start_note


class Command(AdminCommand):
    help = "Create the first admin account and the panel's self-signed certificate (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        password = admin_ensure()
        twofa = (
            "After the password, the first login sets up two-factor login: have an authenticator app ready\n"
            "(FreeOTP, Aegis, Google Authenticator, 1Password, …) and keep the 10 recovery codes it shows.\n"
            if settings.CERTPANEL_REQUIRE_2FA
            else ""
        )
        if password:
            line = "=" * 72
            self.stdout.write(
                f"{line}\nAdmin account created. Log in with\n  user:     {settings.CERTPANEL_ADMIN_USER}\n"
                f"  password: {password}\nThis password is shown only once: change it after logging in.\n"
                f"{twofa}{line}"
            )
        elif password == "":
            self.stdout.write(
                f"Admin account {settings.CERTPANEL_ADMIN_USER} created from CERTPANEL_ADMIN_PASSWORD.\n{twofa}".strip()
            )
        entry = default_certificate_ensure()
        if entry is not None:
            choice = HostnameChoice(settings.CERTPANEL_HOSTNAME, settings.CERTPANEL_HOSTNAME_SOURCE)
            self.stdout.write(
                f"Created the panel's self-signed certificate #{entry.pk} for {entry.name}, used by every default "
                f"listener. {first_start_note(choice)}"
            )
