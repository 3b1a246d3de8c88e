"""`manage.py acme_responder --port 80`: answer HTTP-01 challenges when the panel itself is not on port 80.

Answers only /.well-known/acme-challenge/<token>, from the database, like the panel's own view.
"""

from __future__ import annotations

import logging
from argparse import ArgumentParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.core.management.base import CommandError
from django.db import close_old_connections

from certpanel.cli import AdminCommand
from repository.models import AcmeChallenge

log = logging.getLogger(__name__)
PREFIX = "/.well-known/acme-challenge/"


class Handler(BaseHTTPRequestHandler):
    server_version = "certpanel-acme-responder"

    def do_GET(self) -> None:
        token = self.path.split("?", 1)[0].removeprefix(PREFIX)
        answer = None
        if self.path.startswith(PREFIX) and token and "/" not in token:
            close_old_connections()
            answer = AcmeChallenge.objects.filter(token=token).values_list("key_authorization", flat=True).first()
        body = (answer or "not found").encode()
        self.send_response(200 if answer else 404)
        self.send_header("Content-Type", "application/octet-stream" if answer else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class Command(AdminCommand):
    help = "Serve HTTP-01 challenge answers on a port (e.g. 80) for when the panel is elsewhere."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - the CA connects from outside

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            server = ThreadingHTTPServer((options["host"], options["port"]), Handler)
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['host']}:{options['port']}: {exc.strerror}") from None
        self.stdout.write(f"Answering ACME HTTP-01 challenges on {options['host']}:{options['port']}")
        self.stdout.flush()
        try:
            server.serve_forever()
        finally:
            server.server_close()
