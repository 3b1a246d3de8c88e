"""Witnesses for the outbound guard's tests: proof that no connection was made, and small loopback HTTP servers.

- `Listener`: a TCP socket listening on a loopback address that nobody should reach. The kernel completes a
  handshake into the backlog whether or not anyone accepts, so `connections()` sees every client that got through.
- `connect_attempts()`: every ``socket.connect`` this process makes while the block runs, from Python's audit hook
  (the interpreter raises that event before the system call, refused or not).
- `http_server(routes)`: a threading HTTP server on a loopback address answering GET/HEAD from a table of routes.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Listener:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []

    def connections(self) -> int:
        while True:
            try:
                client, _ = self.sock.accept()
            except BlockingIOError:
                return len(self.accepted)
            self.accepted.append(client)

    def close(self) -> None:
        for client in self.accepted:
            client.close()
        self.sock.close()


@contextmanager
def listening(host: str = "127.0.0.1") -> Iterator[Listener]:
    listener = Listener(host)
    try:
        yield listener
    finally:
        listener.close()


_recorders: list[list[Any]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _recorders:
        for recorder in _recorders:
            recorder.append(args[1])


sys.addaudithook(_audit)  # hooks cannot be removed; this one does nothing outside `connect_attempts`


@contextmanager
def connect_attempts() -> Iterator[list[Any]]:
    seen: list[Any] = []
    _recorders.append(seen)
    try:
        yield seen
    finally:
        _recorders.remove(seen)


Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@dataclass
class Server:
    url: str
    paths: list[str] = field(default_factory=list)


@contextmanager
def http_server(routes: dict[str, Route], *, host: str = "127.0.0.1") -> Iterator[Server]:
    """``routes`` maps a path to a function of the request giving (status, headers, body); others answer 404."""
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, *, body: bool) -> None:
            state.paths.append(self.path)
            route = routes.get(self.path)
            status, headers, data = route(self) if route else (404, {}, b"")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    state.url = f"http://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
