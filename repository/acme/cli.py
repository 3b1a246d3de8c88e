"""`manage.py certs issue|renew|import-certbot`: the ACME subcommands, called by the certs command."""

from __future__ import annotations

import time
from argparse import ArgumentParser, _SubParsersAction
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from certpanel.cli import AdminCommand
from certpanel.dispatch import broker_label, broker_outage_record
from repository import selectors
from repository.acme.certbot_import import certbot_import
from repository.acme.orders import acme_order_create, certificate_renew
from repository.acme.selectors import due_for_renewal, explain_due
from repository.models import AcmeAccount, AcmeOrder, Certificate, ChallengeType
from repository.pki import keytypes
from repository.tasks import certificate_renew_task, queue_many, queue_order


def _account(account_id: int | None) -> AcmeAccount:
    if account_id is not None:
        account = AcmeAccount.objects.filter(pk=account_id).first()
        if account is None:
            raise CommandError(f"there is no ACME account #{account_id} (see `acme accounts`)")
        return account
    accounts = list(AcmeAccount.objects.all()[:2])
    if not accounts:
        raise CommandError("no ACME account: register one with `acme register`")
    if len(accounts) > 1:
        raise CommandError("several ACME accounts: choose one with --account ID")
    return accounts[0]


def _order_dict(order: AcmeOrder) -> dict[str, Any]:
    return {
        "order_id": order.pk,
        "status": order.status,
        "certificate_id": order.certificate_id,
        "hostnames": order.hostnames,
        "error": order.error or None,
    }


def wait_for(command: AdminCommand, order: AcmeOrder, *, timeout: int, quiet: bool) -> AcmeOrder:
    """Follow the order the worker drives, printing each step; fail with the CA's words."""
    deadline, shown = time.monotonic() + timeout, 0
    while True:
        order.refresh_from_db()
        events = list(order.events.all())
        for event in events[shown:]:
            if not quiet:
                command.stderr.write(f"{event.at:%H:%M:%S} {event.get_status_display()} {event.message}".rstrip())
        shown = len(events)
        if not order.is_active:
            break
        if time.monotonic() > deadline:
            raise CommandError(f"order #{order.pk} is still {order.status} after {timeout} s; is a worker running?")
        time.sleep(0.1)
    if order.status != "issued":
        raise CommandError(order.error or f"order #{order.pk} failed")
    return order


def _hand_over(command: AdminCommand, order: AcmeOrder) -> None:
    if not queue_order(order.pk):
        command.warn(
            f"the work queue ({broker_label()}) is unavailable: order #{order.pk} is saved and will run as soon "
            "as it is back; no need to repeat this command"
        )


def _finish(command: AdminCommand, order: AcmeOrder, options: dict[str, Any]) -> None:
    if options["wait"]:
        order = wait_for(command, order, timeout=options["timeout"], quiet=options["json"])
        assert order.certificate_id is not None, "wait_for returns an issued order only"
        entry = selectors.certificate_get(order.certificate_id)
        if options["json"]:
            command.print_json({**selectors.certificate_as_dict(entry), "order_id": order.pk})
        else:
            command.stdout.write(f"Issued #{entry.pk} {entry.name}, valid until {entry.not_after:%Y-%m-%d %H:%M} UTC")
        return
    if options["json"]:
        command.print_json(_order_dict(order))
    else:
        command.stdout.write(f"Queued order #{order.pk} for {', '.join(order.hostnames)}")


def issue(command: AdminCommand, options: dict[str, Any]) -> None:
    order = acme_order_create(
        account=_account(options["account"]),
        hostnames=options["domain"],
        key_type=options["key_type"],
        profile=options["profile"],
        auto_renew=not options["no_auto_renew"],
        reuse_key=options["reuse_key"],
        challenge=options["challenge"],
    )
    _hand_over(command, order)
    _finish(command, order, options)


def renew(command: AdminCommand, options: dict[str, Any]) -> None:
    now = timezone.now()
    if options["due"]:
        entries = due_for_renewal(now)
    else:
        entries = Certificate.objects.filter(pk=_int(options["id"]))
        if not entries.exists():
            raise CommandError(f"There is no certificate #{options['id']}.")
    if options["dry_run"]:
        rows = [
            {
                "id": e.certificate_id,
                "name": e.name,
                "renew_at": e.renew_at.isoformat() if e.renew_at else None,
                "due": bool(e.renew_at and e.renew_at <= now),
                "rule": e.rule,
                "window": e.window,
            }
            for e in explain_due(entries)
        ]
        if options["json"]:
            command.print_json(rows)
        for row in [] if options["json"] else rows:
            state = "due" if row["due"] else "not due"
            command.stdout.write(f"#{row['id']} {row['name']}: {state}, renew at {row['renew_at']} ({row['rule']})")
        return
    if options["due"]:
        ids = list(entries.values_list("pk", flat=True))
        try:
            queue_many(certificate_renew_task, ids)
        except (BrokerError, OSError) as error:
            broker_outage_record(str(error))
            raise CommandError(
                f"the work queue ({broker_label()}) is unavailable: the {len(ids)} due renewal(s) stay due and "
                "the renewal sweep starts them once it is back"
            ) from None
        if options["json"]:
            command.print_json({"queued": ids})
        else:
            command.stdout.write(f"Queued {len(ids)} renewal(s)")
        return
    order = certificate_renew(_int(options["id"]))
    _hand_over(command, order)
    _finish(command, order, options)


def import_certbot(command: AdminCommand, options: dict[str, Any]) -> None:
    result = certbot_import(Path(options["directory"]))
    if options["json"]:
        command.print_json(
            {
                "accounts": [a.pk for a in result.accounts],
                "certificates": [
                    selectors.certificate_as_dict(selectors.certificate_get(c.pk)) for c in result.certificates
                ],
                "skipped": result.skipped,
            }
        )
    else:
        for entry in result.certificates:
            command.stdout.write(f"Imported #{entry.pk} {entry.name}, renews at {entry.renew_at:%Y-%m-%d %H:%M} UTC")
        for reason in result.skipped:
            command.warn(reason)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"'{value}' is not a certificate id") from None


def add_commands(sub: _SubParsersAction[ArgumentParser]) -> None:
    """The ACME actions of `manage.py certs`: issue, renew, import-certbot."""
    p = sub.add_parser("issue", help="Get a certificate from the ACME CA (HTTP-01 or DNS-01) on a worker.")
    p.add_argument(
        "--domain",
        action="append",
        required=True,
        help="Hostname (repeatable; the first is the CN); a wildcard (*.example.com) needs --challenge dns-01.",
    )
    p.add_argument(
        "--challenge",
        default=ChallengeType.HTTP_01,
        choices=list(ChallengeType.values),
        help="http-01 (port 80 reaches the panel) or dns-01 (TXT records through a DNS provider: `dns list`).",
    )
    p.add_argument("--key-type", default="ec256", choices=list(keytypes.KEY_TYPES))
    p.add_argument("--account", type=int, help="ACME account id (default: the only account).")
    p.add_argument(
        "--profile", default="", help="A profile the CA's directory offers (see `acme accounts`); kept on renewal."
    )
    p.add_argument("--no-auto-renew", action="store_true")
    p.add_argument("--reuse-key", action="store_true", help="Keep the same private key on every renewal.")
    p.add_argument("--wait", action="store_true", help="Wait for the worker; non-zero exit if issuance fails.")
    p.add_argument("--timeout", type=int, default=600, help="Seconds --wait waits.")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("renew", help="Renew one ACME certificate, or every one that is due.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--id")
    which.add_argument("--due", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="Only say what is due and why.")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("import-certbot", help="Import certbot's lineages and accounts (e.g. /etc/letsencrypt).")
    p.add_argument("directory")
    p.add_argument("--json", action="store_true")
