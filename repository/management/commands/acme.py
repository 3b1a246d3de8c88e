"""`manage.py acme register|accounts`: ACME accounts from the shell."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from certpanel.cli import AdminCommand, read_input, read_secret
from repository.acme.accounts import PRESETS, acme_account_register
from repository.models import AcmeAccount


def _account_dict(account: AcmeAccount) -> dict[str, Any]:
    return {
        "id": account.pk,
        "name": account.name,
        "directory": account.directory_url,
        "email": account.email,
        "uri": account.uri,
        "terms_of_service": account.terms_of_service,
        "profiles": sorted(account.profiles or {}),
        "eab_kid": account.eab_kid,
    }


class Command(AdminCommand):
    help = "Register and list ACME accounts."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        p = sub.add_parser("register", help="Register an account at an ACME directory.")
        p.add_argument("--directory", required=True, help="Directory URL, or 'letsencrypt' / 'letsencrypt-staging'.")
        p.add_argument("--email", default="")
        p.add_argument("--agree-tos", action="store_true", help="Agree to the CA's Terms of Service.")
        p.add_argument("--ca-bundle", help="PEM file trusted for the directory's TLS (a private CA).")
        p.add_argument("--eab-kid", default="")
        p.add_argument("--eab-hmac-file", help="File holding the EAB HMAC key (base64url).")
        p.add_argument("--name", default="")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("accounts", help="List accounts.")
        p.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "accounts":
            accounts = [_account_dict(a) for a in AcmeAccount.objects.all()]
            if options["json"]:
                self.print_json(accounts)
            for a in [] if options["json"] else accounts:
                self.stdout.write(f"{a['id']:>4}  {a['name']:<28} {a['email'] or '-':<28} {a['directory']}")
            return
        directory = PRESETS[options["directory"]][1] if options["directory"] in PRESETS else options["directory"]
        if not directory.startswith(("https://", "http://")):
            raise CommandError(f"'{options['directory']}' is not a directory URL")
        if options["eab_kid"] and not options["eab_hmac_file"]:
            raise CommandError("--eab-kid needs --eab-hmac-file")
        hmac = read_secret(options["eab_hmac_file"], label="EAB HMAC file")
        account = acme_account_register(
            directory_url=directory,
            email=options["email"],
            agree_tos=options["agree_tos"],
            name=options["name"],
            ca_bundle_pem=read_input(options["ca_bundle"], label="CA bundle").decode() if options["ca_bundle"] else "",
            eab_kid=options["eab_kid"],
            eab_hmac_key=hmac.decode().strip() if hmac else "",
        )
        if options["json"]:
            self.print_json(_account_dict(account))
        else:
            self.stdout.write(f"Registered ACME account #{account.pk} {account.name} ({account.uri})")
