import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command

from certpanel.cli import AdminCommand
from certpanel.launcher import Supervisor, children


class Command(AdminCommand):
    help = "Migrate, bootstrap, then run web, Celery worker and Celery beat in the foreground (Ctrl-C stops all)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--listen", default=settings.CERTPANEL_LISTEN, help="host:port for the web server.")
        parser.add_argument("--skip-migrate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["skip_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("bootstrap", stdout=self.stdout)
        supervisor = Supervisor(
            children(
                listen=options["listen"],
                web_workers=settings.CERTPANEL_WEB_WORKERS,
                beat_schedule=settings.CELERY_BEAT_SCHEDULE_FILENAME,
                control_socket=str(settings.DATA_DIR / "gunicorn.ctl"),
            )
        )
        supervisor.start()
        host, _, port = options["listen"].rpartition(":")
        shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "") else host.strip("[]")  # noqa: S104
        self.stdout.write(f"certpanel is running at http://{shown}:{port}/  (Ctrl-C to stop)")
        self.stdout.flush()
        sys.exit(supervisor.wait())
