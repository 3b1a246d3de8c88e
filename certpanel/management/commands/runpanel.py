import getpass
import os
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from certpanel.cli import AdminCommand
from certpanel.launcher import Account, Supervisor, account_of, children, hand_over


class Command(AdminCommand):
    help = "Migrate, bootstrap, then run web, Celery worker and Celery beat in the foreground (Ctrl-C stops all)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--listen", default=settings.CERTPANEL_LISTEN, help="host:port for the web server.")
        parser.add_argument("--skip-migrate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        run_as = self._run_as()  # a user the host does not have stops the start before anything is done
        if not options["skip_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("bootstrap", stdout=self.stdout)
        if run_as is not None:
            # After bootstrap, which may have created the keys as root.
            deploy_dir = Path(settings.CERTPANEL_DEPLOY_DIR)
            deploy_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
            for directory in (Path(settings.DATA_DIR), deploy_dir):
                hand_over(directory, run_as, directories_only_under=deploy_dir)
            self.stdout.write(f"The worker, beat and the web workers run as {run_as.name}.")
        supervisor = Supervisor(
            children(
                listen=options["listen"],
                web_workers=settings.CERTPANEL_WEB_WORKERS,
                beat_schedule=settings.CELERY_BEAT_SCHEDULE_FILENAME,
                control_socket=str(settings.DATA_DIR / "gunicorn.ctl"),
                run_as=run_as,
            )
        )
        supervisor.start()
        host, _, port = options["listen"].rpartition(":")
        shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "") else host.strip("[]")  # noqa: S104
        self.stdout.write(f"certpanel is running at http://{shown}:{port}/  (Ctrl-C to stop)")
        self.stdout.flush()
        sys.exit(supervisor.wait())

    def _run_as(self) -> Account | None:
        """CERTPANEL_WORKER_USER's account; None to run as this process's own user."""
        name = settings.CERTPANEL_WORKER_USER
        if not name:
            return None
        if os.geteuid() != 0:
            self.warn(f"CERTPANEL_WORKER_USER={name} is ignored: not started as root, all runs as {getpass.getuser()}")
            return None
        try:
            account = account_of(name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return None if account.uid == 0 else account
