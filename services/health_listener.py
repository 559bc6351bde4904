"""An HTTP 200 for App Service's pings while `cli.py worker` runs as a web app.

App Service restarts a container that answers nothing on $PORT within its start limit, so a
worker deployed as a second web app (startup command `python cli.py worker`) would restart
forever. With PORT set, the worker answers every GET on it with 200 "ok" (the health check and
Always On ping `/` or the configured path) from a daemon thread; it serves no data.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - pings every minute: no log
        pass


class HealthListener:
    """Serves 200 on host:port until stopped; port 0 picks a free one (tests)."""

    def __init__(self, port: int, host: str = "0.0.0.0"):
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="health-listener", daemon=True)

    def start(self) -> HealthListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def listener_port(environ: Mapping[str, str]) -> int | None:
    """The port App Service gives the container (PORT, or WEBSITES_PORT), or None outside it.

    Raises ValueError for a value that is not a port number.
    """
    text = environ.get("PORT") or environ.get("WEBSITES_PORT")
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"setting PORT must be a port number, got {text[:20]!r}")
    return int(text)
