from typing import Any

from django.conf import settings

from certpanel.bootstrap import admin_ensure, default_certificate_ensure
from certpanel.cli import AdminCommand
from certpanel.hostname import HostnameChoice, first_start_note


class Command(AdminCommand):
    help = "Create the first admin account and the panel's self-signed certificate (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        password = admin_ensure()
        if password:
            line = "=" * 72
            self.stdout.write(
                f"{line}\nAdmin account created. Log in with\n  user:     {settings.CERTPANEL_ADMIN_USER}\n"
                f"  password: {password}\nThis password is shown only once: change it after logging in.\n{line}"
            )
        elif password == "":
            self.stdout.write(f"Admin account {settings.CERTPANEL_ADMIN_USER} created from CERTPANEL_ADMIN_PASSWORD.")
        entry = default_certificate_ensure()
        if entry is not None:
            choice = HostnameChoice(settings.CERTPANEL_HOSTNAME, settings.CERTPANEL_HOSTNAME_SOURCE)
            self.stdout.write(
                f"Created the panel's self-signed certificate #{entry.pk} for {entry.name}, used by every default "
                f"listener. {first_start_note(choice)}"
            )
