"""A TLS port on loopback that serves whatever certificate files are on disk at each handshake: a stand-in for a
daemon that reloads, for journeys whose deployments must really succeed without a daemon installed."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from types import TracebackType


class FileTlsPort:
    """Implicit TLS on 127.0.0.1 and a free port; ``fullchain`` and ``key`` are read at every connection (none
    yet: the connection is closed, as a daemon without its files would)."""

    def __init__(self, fullchain: str | Path, key: str | Path) -> None:
        self.fullchain, self.key = Path(fullchain), Path(key)
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.fullchain, self.key)
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)  # until the probe hangs up
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def __enter__(self) -> FileTlsPort:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()
