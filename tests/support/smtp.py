"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 and a free port, collecting what it receives.

    with SmtpSink() as sink:
        settings.EMAIL_PORT = sink.port
        ...send...
        [message] = sink.wait_for(1)

Messages are parsed with ``email.policy.default``, so they are ``email.message.EmailMessage`` objects
(``message["Subject"]``, ``message.get_body(("plain",))`` ...). The SMTP envelope of each is in ``.envelopes``.

For failure tests: ``port=`` serves on a port chosen beforehand (a server that comes back where the panel
expects it), ``data_reply="451 …"`` refuses every message at DATA, and ``hold=threading.Event()`` keeps
the final reply to DATA back until the event is set (the message counts as received when DATA arrives,
as with a real MTA that queues it before it answers; ``wait_held`` says when a sender is waiting).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["ReceivedEnvelope", "SmtpSink"]


@dataclass(frozen=True)
class ReceivedEnvelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]


class _BoundController(Controller):
    """A Controller that serves on a socket bound beforehand, so the port is known and free (no race)."""

    def __init__(self, handler: Any, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class SmtpSink:
    """Accepts every message on 127.0.0.1; ``start()``/``stop()`` or use it as a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        port: int = 0,
        data_reply: str | None = None,
        hold: threading.Event | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.data_reply = data_reply
        self.hold = hold
        self.held = 0
        self.messages: list[EmailMessage] = []
        self.envelopes: list[ReceivedEnvelope] = []
        self._received = threading.Condition()
        self._controller: _BoundController | None = None

    # aiosmtpd handler hook: runs on the controller's event loop thread.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        content = envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        with self._received:
            self.messages.append(message)
            self.envelopes.append(ReceivedEnvelope(envelope.mail_from or "", tuple(envelope.rcpt_tos)))
            self._received.notify_all()
        if self.hold is not None and not self.hold.is_set():
            with self._received:
                self.held += 1
                self._received.notify_all()
            while not self.hold.is_set():
                await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        if self._controller is not None:
            raise RuntimeError("The SMTP sink is already running.")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen()
            sock.setblocking(False)
            controller = _BoundController(self, sock)
            controller.start()
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived; a copy of the list, or TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"Expected {count} message(s) within {timeout}s, got {len(self.messages)}.")
                self._received.wait(remaining)
            return list(self.messages)

    def wait_held(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until ``count`` senders wait for the reply to their DATA (``hold``), or TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._received:
            while self.held < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"Expected {count} held DATA within {timeout}s, got {self.held}.")
                self._received.wait(remaining)

    def clear(self) -> None:
        with self._received:
            self.messages.clear()
            self.envelopes.clear()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
