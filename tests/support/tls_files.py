"""A TLS port that serves whatever certificate and key are on disk at each handshake.

The smallest daemon a `files` listener can deploy to: like a daemon after its reload command, every new
connection sees the files the panel wrote, so the panel's own verification proves what landed on disk.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path
from types import TracebackType


class FileTlsServer:
    def __init__(self, fullchain: Path, key: Path) -> None:
        self.fullchain, self.key = fullchain, key
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.handshakes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="file-tls-server", daemon=True)

    def _context(self) -> ssl.SSLContext | None:
        if not (self.fullchain.exists() and self.key.exists()):
            return None  # nothing deployed yet: the port refuses TLS, as a daemon without files would
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.fullchain, self.key)
        return context

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError, ssl.SSLError):
                conn.settimeout(5)
                context = self._context()
                if context is not None:
                    with context.wrap_socket(conn, server_side=True):
                        self.handshakes += 1

    def __enter__(self) -> FileTlsServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
