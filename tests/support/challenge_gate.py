"""A gate between Pebble's VA and the panel's HTTP-01 responder, so a test can hold validation at a known
point (the challenge has been answered, the CA is fetching it) instead of racing a timer.

Held requests wait until `release()`; afterwards every request goes straight through to the responder, or is
answered with `release(status=404)`'s status instead (the CA then marks the challenge invalid). `hold()` closes
the gate again, for a second order.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChallengeGate:
    def __init__(self, listen_port: int, responder_port: int) -> None:
        self.requested = threading.Event()
        self._open = threading.Event()
        self._refuse_with: int | None = None
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gate.requested.set()
                gate._open.wait(timeout=60)
                if gate._refuse_with is not None:
                    self.send_response(gate._refuse_with)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{responder_port}{self.path}", timeout=10) as up:
                        status, body = up.status, up.read()
                except urllib.error.HTTPError as error:
                    status, body = error.code, error.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", listen_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_requested(self, timeout: float) -> None:
        if not self.requested.wait(timeout):
            raise AssertionError(f"the CA did not fetch the challenge within {timeout}s")

    def release(self, *, status: int | None = None) -> None:
        self._refuse_with = status
        self._open.set()

    def hold(self) -> None:
        self._refuse_with = None
        self.requested.clear()
        self._open.clear()

    def close(self) -> None:
        self._open.set()
        self._server.shutdown()
        self._server.server_close()
