"""`manage.py certs …`: the repository from the shell (README "CLI reference")."""

from __future__ import annotations

import getpass
from argparse import ArgumentParser, _SubParsersAction
from collections.abc import Sequence
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from certpanel.cli import AdminCommand, read_input, read_secret, write_output
from repository import actions, selectors
from repository.acme import cli as acme_cli
from repository.exports import FORMATS, certificate_export
from repository.models import Certificate
from repository.pki import keytypes
from repository.pki.generate import SubjectFields
from repository.pki.hostnames import normalize_hostname

KEY_TYPES = list(keytypes.KEY_TYPES)


def _hostnames(values: list[str] | None) -> list[str]:
    return [normalize_hostname(value) for value in values or []]


class Command(AdminCommand):
    help = "List, create, import, complete, export and delete repository certificates."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        _add_reading(sub)
        _add_creating(sub)
        _add_keeping(sub)
        acme_cli.add_commands(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action'].replace('-', '_')}")(options)

    def _print_entry(
        self, entry: Certificate, options: dict[str, Any], verb: str, warnings: Sequence[str] = ()
    ) -> None:
        entry = selectors.certificate_get(entry.pk)
        if options.get("json"):
            self.print_json({**selectors.certificate_as_dict(entry), "warnings": list(warnings)})
        else:
            until = f", valid until {entry.not_after:%Y-%m-%d}" if entry.not_after else ""
            self.stdout.write(f"{verb} #{entry.pk} {entry.name}{until}")
        for warning in warnings:
            self.warn(warning)

    def do_list(self, options: dict[str, Any]) -> None:
        entries = selectors.certificate_list(search=options["search"], status=options["status"])
        if options["json"]:
            self.print_json([selectors.certificate_as_dict(entry) for entry in entries])
            return
        row = "{:>5}  {:<32} {:<9} {:<10}  {:<24} {}"
        self.stdout.write(row.format("ID", "NAME", "STATUS", "EXPIRES", "ISSUER", "SERVICES"))
        for entry in entries:
            expires = f"{entry.not_after:%Y-%m-%d}" if entry.not_after else "-"
            services = ",".join(selectors.certificate_usages(entry)) or "-"
            self.stdout.write(row.format(entry.pk, entry.name[:32], entry.status, expires, entry.issuer[:24], services))

    def do_show(self, options: dict[str, Any]) -> None:
        entry = selectors.certificate_get(options["id"])
        data = selectors.certificate_as_dict(entry)
        if options["json"]:
            self.print_json(data)
            return
        for key, value in data.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            self.stdout.write(f"{key + ':':<20} {shown if shown not in (None, '') else '-'}")

    def do_selfsigned(self, options: dict[str, Any]) -> None:
        entry = actions.certificate_create_self_signed(
            hostname=options["name"],
            sans=_hostnames(options["san"]),
            key_type=options["key_type"],
            days=options["days"],
            passphrase=read_secret(options["passphrase_file"]),
        )
        self._print_entry(entry, options, "Created self-signed certificate")

    def do_csr(self, options: dict[str, Any]) -> None:
        subject = SubjectFields(
            common_name=options["name"],
            organization=options["org"],
            organizational_unit=options["org_unit"],
            locality=options["locality"],
            state=options["state"],
            country=options["country"].upper(),
            email=options["email"],
        )
        with transaction.atomic():  # no pending entry without its CSR file
            entry = actions.certificate_create_csr(
                subject=subject,
                sans=_hostnames(options["san"]),
                key_type=options["key_type"],
                passphrase=read_secret(options["passphrase_file"]),
            )
            write_output(options["out"], entry.csr_pem.encode("ascii"), secret=False)
        if options["out"] != "-":
            self._print_entry(entry, options, f"Wrote the CSR to {options['out']}; pending entry")

    def do_complete(self, options: dict[str, Any]) -> None:
        uploads = [read_input(options["cert"], label="certificate file")]
        if options["chain"]:
            uploads.append(read_input(options["chain"], label="chain file"))
        outcome = actions.certificate_complete(certificate_id=_id(options["id"]), uploads=uploads)
        self._print_entry(outcome.certificate, options, "Completed", outcome.warnings)

    def do_import(self, options: dict[str, Any]) -> None:
        if bool(options["pkcs12"]) == bool(options["cert"]):
            raise CommandError("give either --cert (with --key/--chain) or --pkcs12")
        if options["pkcs12"] and (options["key"] or options["chain"]):
            raise CommandError("--key and --chain go with --cert, not with --pkcs12")

        def optional(name: str, label: str) -> bytes | None:
            return read_input(options[name], label=label) if options[name] else None

        outcome = actions.certificate_import(
            certificate_data=optional("cert", "certificate file"),
            key_data=optional("key", "key file"),
            chain_data=optional("chain", "chain file"),
            pkcs12_data=optional("pkcs12", "PKCS#12 file"),
            passphrase=read_secret(options["passphrase_file"]),
            name=options["name"],
        )
        self._print_entry(outcome.certificate, options, "Imported", outcome.warnings)

    def do_export(self, options: dict[str, Any]) -> None:
        with transaction.atomic():  # the audit row only stands if the file was written
            result = certificate_export(
                certificate_id=_id(options["id"]),
                export_format=options["format"],
                passphrase=read_secret(options["passphrase_file"]),
                export_password=read_secret(options["export_password_file"], label="export password file"),
                actor=f"cli:{getpass.getuser()}",
            )
            write_output(options["out"], result.content, secret=result.secret)
        if options["out"] != "-":
            self.stdout.write(f"Wrote {options['format']} of #{options['id']} to {options['out']}")

    def do_issue(self, options: dict[str, Any]) -> None:
        acme_cli.issue(self, options)

    def do_renew(self, options: dict[str, Any]) -> None:
        acme_cli.renew(self, options)

    def do_import_certbot(self, options: dict[str, Any]) -> None:
        acme_cli.import_certbot(self, options)

    def do_delete(self, options: dict[str, Any]) -> None:
        name = actions.certificate_delete(certificate_id=_id(options["id"]))
        self.stdout.write(f"Deleted #{options['id']} {name}")


def _id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"'{value}' is not a certificate id (a number, see `certs list`)") from None


def _add_reading(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("list", help="List certificates.")
    p.add_argument("--search", default="", help="Filter by name, hostname, issuer or serial.")
    p.add_argument("--status", default="", choices=["", "valid", "expiring", "expired", "pending"])
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("show", help="Show one certificate.")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")


def _add_creating(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("selfsigned", help="Create a self-signed certificate.")
    p.add_argument("--name", required=True, help="Hostname (the certificate's CN).")
    p.add_argument("--san", action="append", help="Extra hostname or IP (repeatable).")
    p.add_argument("--key-type", default=actions.DEFAULT_KEY_TYPE, choices=KEY_TYPES)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--passphrase-file", help="Protect the key with the passphrase in this file.")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("csr", help="Create a key and a CSR for a commercial CA.")
    p.add_argument("--name", required=True, help="Hostname (the CSR's CN).")
    p.add_argument("--san", action="append")
    p.add_argument("--key-type", default=actions.DEFAULT_KEY_TYPE, choices=KEY_TYPES)
    for option in ("org", "org-unit", "locality", "state", "country", "email"):
        p.add_argument(f"--{option}", default="")
    p.add_argument("--passphrase-file")
    p.add_argument("--out", required=True, help="Where to write the CSR (PEM); - for stdout.")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("complete", help="Attach the CA's certificate to a pending CSR.")
    p.add_argument("id")
    p.add_argument("--cert", required=True, help="Certificate from the CA (PEM, DER or PKCS#7).")
    p.add_argument("--chain", help="Chain / CA bundle, if separate.")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("import", help="Import a certificate with its key and chain, or a PKCS#12 file.")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--chain")
    p.add_argument("--pkcs12")
    p.add_argument("--passphrase-file", help="PKCS#12 password or key passphrase.")
    p.add_argument("--name", default="")
    p.add_argument("--json", action="store_true")


def _add_keeping(sub: _SubParsersAction[ArgumentParser]) -> None:
    p = sub.add_parser("export", help="Write a certificate, chain or key to a file.")
    p.add_argument("id")
    p.add_argument("--format", required=True, choices=list(FORMATS))
    p.add_argument("--out", required=True, help="Output file; - for stdout.")
    p.add_argument("--passphrase-file", help="Passphrase of a protected key.")
    p.add_argument("--export-password-file", help="Password for the PKCS#12 file.")

    p = sub.add_parser("delete", help="Delete a certificate no service uses.")
    p.add_argument("id")
