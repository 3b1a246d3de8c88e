"""`manage.py services …`: listeners from the shell (README "CLI reference")."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from certpanel.cli import AdminCommand, read_secret
from services import actions, selectors, verification
from services.daemons import ACTION_CHOICES, ADAPTERS
from services.models import Deployment, Listener
from services.protocols import BY_CODE

# What `add` and `edit` set beside name, protocol, host and port (commands are set apart: host only).
LISTENER_OPTIONS = (
    "daemon",
    "server_name",
    "cert_path",
    "key_path",
    "chain_path",
    "fullchain_path",
    "combined_path",
    "owner",
    "group",
    "action",
)


class Command(AdminCommand):
    help = "List, add, edit, assign, deploy and verify the secure listeners of the mail server."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="ACTION")
        p = sub.add_parser("list", help="List listeners.")
        p.add_argument("--json", action="store_true")

        p = sub.add_parser("add", help="Add a listener.")
        p.add_argument("--name", required=True)
        p.add_argument("--protocol", required=True, choices=list(BY_CODE))
        p.add_argument("--host", required=True)
        p.add_argument("--port", required=True, type=int)
        self._listener_arguments(p, default="")
        p.add_argument("--json", action="store_true")

        p = sub.add_parser("edit", help="Change a listener; options not given stay as they are.")
        p.add_argument("name")
        p.add_argument("--new-name")
        p.add_argument("--protocol", choices=list(BY_CODE))
        p.add_argument("--host")
        p.add_argument("--port", type=int)
        self._listener_arguments(p, default=None)
        p.add_argument("--json", action="store_true")

        p = sub.add_parser("assign", help="Put a repository certificate on a listener (or on one SNI name).")
        p.add_argument("name")
        p.add_argument("cert_id", type=int)
        p.add_argument("--sni-name", default="")
        p.add_argument("--passphrase-file", help="Passphrase of a protected key (asked once).")

        for action in ("deploy", "verify"):
            p = sub.add_parser(action, help=f"{action.capitalize()} one listener or all.")
            p.add_argument("name", nargs="?")
            p.add_argument("--all", action="store_true")
            p.add_argument("--json", action="store_true")

    @staticmethod
    def _listener_arguments(p: ArgumentParser, *, default: str | None) -> None:
        p.add_argument("--daemon", choices=list(ADAPTERS), default=default)
        p.add_argument("--server-name", default=default, help="Name clients use (SNI, hostname check).")
        for kind in ("cert", "key", "chain", "fullchain", "combined"):
            p.add_argument(f"--{kind}-path", default=default, help="Under the deploy roots (CERTPANEL_DEPLOY_ROOTS).")
        p.add_argument("--owner", default=default, help="One of CERTPANEL_DEPLOY_OWNERS; empty: the writer's own.")
        p.add_argument("--group", default=default, help="One of CERTPANEL_DEPLOY_GROUPS.")
        p.add_argument(
            "--action", choices=[code for code, _ in ACTION_CHOICES], default=default, help="Empty: the daemon's own."
        )
        host_set = " Set here only, never in the web UI; split into words like a shell does but run without one "
        p.add_argument(
            "--check-cmd",
            default=default,
            help="A check of your own instead of the action's (empty: the action's)." + host_set + "(write "
            "`sh -c '…'` for pipes or `;`).",
        )
        p.add_argument("--reload-cmd", default=default, help="A reload of your own, as --check-cmd.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['subcommand']}")(options)

    def do_list(self, options: dict[str, Any]) -> None:
        listeners = [selectors.listener_as_dict(listener) for listener in selectors.listener_list()]
        if options["json"]:
            self.print_json(listeners)
            return
        row = "{:<16} {:<10} {:<22} {:<8} {:<32} {}"
        self.stdout.write(row.format("NAME", "PROTOCOL", "ADDRESS", "DAEMON", "CERTIFICATE", "VERIFIED"))
        for item in listeners:
            verified = {True: "ok", False: "FAILED", None: "-"}[item["last_verify_ok"]]
            self.stdout.write(
                row.format(
                    item["name"][:16],
                    item["protocol"],
                    f"{item['host']}:{item['port']}",
                    item["daemon"],
                    (item["certificate"] or "-")[:32],
                    verified,
                )
            )

    def do_add(self, options: dict[str, Any]) -> None:
        fields = {key: options[key] for key in ("name", "protocol", "host", "port", *LISTENER_OPTIONS)}
        with transaction.atomic():  # a command refused leaves no listener behind
            listener = actions.listener_create(**fields)
            actions.listener_commands_set(listener, check_cmd=options["check_cmd"], reload_cmd=options["reload_cmd"])
        if options["json"]:
            self.print_json(selectors.listener_as_dict(listener))
        else:
            self.stdout.write(f"Added {listener.name} ({listener.protocol} on {listener.host}:{listener.port})")

    def do_edit(self, options: dict[str, Any]) -> None:
        listener = selectors.listener_get(options["name"])
        fields = {key: options[key] for key in ("protocol", "host", "port", *LISTENER_OPTIONS)}
        fields["name"] = options["new_name"]
        with transaction.atomic():
            actions.listener_update(listener, **{key: value for key, value in fields.items() if value is not None})
            actions.listener_commands_set(listener, check_cmd=options["check_cmd"], reload_cmd=options["reload_cmd"])
        if options["json"]:
            self.print_json(selectors.listener_as_dict(listener))
        else:
            self.stdout.write(f"Saved {listener.name}")

    def do_assign(self, options: dict[str, Any]) -> None:
        listener = selectors.listener_get(options["name"])
        actions.listener_assign(
            listener,
            options["cert_id"],
            sni_name=options["sni_name"],
            passphrase=read_secret(options["passphrase_file"]),
        )
        where = f" for {options['sni_name']}" if options["sni_name"] else ""
        self.stdout.write(
            f"Assigned certificate #{options['cert_id']} to {listener.name}{where}; "
            f"run `services deploy {listener.name}` to put it on the daemon"
        )

    def _chosen(self, options: dict[str, Any]) -> list[Listener]:
        if bool(options["name"]) == bool(options["all"]):
            raise CommandError("give a listener name or --all")
        if options["all"]:
            return list(selectors.listener_list().exclude(certificate=None))
        return [selectors.listener_get(options["name"])]

    def do_deploy(self, options: dict[str, Any]) -> None:
        results = [actions.listener_deploy(listener.pk, trigger="cli") for listener in self._chosen(options)]
        if options["json"]:
            self.print_json(
                [{"service": d.listener.name, "status": d.status, "error": d.error, "log": d.log} for d in results]
            )
        else:
            for deployment in results:
                self.stdout.write(f"{deployment.listener.name}: {deployment.get_status_display()}")
                if deployment.status != "succeeded":
                    self.stderr.write(deployment.log)
        failed = [d for d in results if d.status != "succeeded"]
        if failed:
            raise CommandError("; ".join(_outcome(d) for d in failed))

    def do_verify(self, options: dict[str, Any]) -> None:
        chosen = self._chosen(options)
        found = verification.listeners_verify(chosen, trigger="command line")
        rows = [
            {"service": listener.name, **verification.report_of(result)}
            for listener in chosen
            for result in found[listener.pk]
        ]
        if options["json"]:
            self.print_json(rows)
        else:
            for row in rows:
                state = "ok" if row["ok"] else f"FAILED: {row['error']}"
                self.stdout.write(
                    f"{row['service']:<16} {row['host']}:{row['port']:<6} {row['server_name']:<28} "
                    f"{row['tls_version']:<8} {row['days_left'] if row['days_left'] is not None else '-':>4} "
                    f"days  {state}"
                )
        if not all(row["ok"] for row in rows):
            raise CommandError(f"{sum(not row['ok'] for row in rows)} listener check(s) failed")


def _outcome(deployment: Deployment) -> str:
    """One line per deployment that did not succeed: what happened, in the deployment's own words."""
    name = deployment.listener.name
    if deployment.status == "queued":
        return f"deployment of {name} is still queued behind another one; a worker will run it"
    return f"deployment of {name} {deployment.get_status_display().lower()}: {deployment.error}"
