"""`manage.py twofa …`: two-factor login from the host, for a user locked out of it (README "Security")."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from certpanel.access import twofactor
from certpanel.cli import AdminCommand


class Command(AdminCommand):
    help = "Show who has two-factor login, or reset it for a user who lost the authenticator and recovery codes."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="ACTION")
        p = sub.add_parser("list", help="Every user, whether two-factor login is set up, recovery codes left.")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("reset", help="Forget a user's authenticator and recovery codes: they set up a new one.")
        p.add_argument("user")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "reset":
            self._reset(options["user"])
        else:
            self._list(as_json=options["json"])

    def _reset(self, username: str) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if twofactor.twofactor_reset(user=user):
            self.stdout.write(f"Two-factor login of {username} was reset: they set it up again at their next login.")
        else:
            self.stdout.write(f"{username} had no two-factor login set up: nothing to reset.")

    def _list(self, *, as_json: bool) -> None:
        rows = [
            {
                "user": user.get_username(),
                "two_factor": twofactor.twofactor_enabled(user),
                "recovery_codes_left": twofactor.recovery_codes_left(user),
            }
            for user in get_user_model().objects.order_by("username")
        ]
        if as_json:
            self.print_json(rows)
            return
        for row in rows:
            state = f"on, {row['recovery_codes_left']} recovery codes left" if row["two_factor"] else "not set up"
            self.stdout.write(f"{row['user']}: {state}")
