"""The local web page: a standard-library HTTP server, a JSON endpoint and static files.

Routes: GET / (the page), GET /static/<file>, GET /api/examples, GET /api/health,
POST /api/diff (JSON in, JSON out; see compute.answer). Nothing the user types
is evaluated as code: it goes to matdiff.diff as text. The server binds to
loopback by default, answers only Host headers naming it (a defence against DNS
rebinding), takes only `application/json` posts (so a page on another site
cannot post a plain form to it) and limits the size of request bodies.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import sys
import threading
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from .compute import EXAMPLES, LAYOUTS, answer, mathml_available
from .workers import Busy, Timeout, WorkerDied, WorkerPool

__all__ = ["make_server", "serve", "MatdiffServer", "MAX_BODY", "DEFAULT_TIMEOUT"]

log = logging.getLogger("matdiff.web")

MAX_BODY = 64 * 1024        # bytes in a request body
DEFAULT_TIMEOUT = 20.0      # seconds for one derivative, all views included
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BACKLOG = 1024              # connections the kernel queues before accept (capped by somaxconn)
_DIGITS = re.compile(r"[0-9]{1,18}")
# A client that hangs up before its answer is written: nothing to report.
HANG_UPS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
SECURITY_HEADERS = {
    # Only our own files; MathML from the server is markup, never script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _static_files() -> dict[str, bytes]:
    """Every file under web/static, read once, from a checkout or an installed package."""
    root = resources.files("matdiff.web") / "static"
    return {entry.name: entry.read_bytes() for entry in root.iterdir()
            if entry.is_file() and not entry.name.startswith(".")}


class MatdiffServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that carries the page's settings and its worker pool.

    `timeout_seconds=None` answers in the request's own thread, with no time
    limit (fast to start: the tests use it); a number sends each derivative to
    a worker process that is killed when the time is up.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG  # socketserver's default of 5 resets bursts of connections

    def __init__(self, address: tuple[str, int], timeout_seconds: float | None = DEFAULT_TIMEOUT,
                 workers: int = 2, quiet: bool = False) -> None:
        self.timeout_seconds = timeout_seconds
        self.pool = WorkerPool(workers) if timeout_seconds else None
        self.quiet = quiet
        super().__init__(address, Handler)  # on a failed bind this calls server_close()
        self.static = _static_files()
        host = address[0]
        self.allowed_hosts = LOOPBACK | {host.strip("[]").lower()}
        self.loopback_only = host in LOOPBACK

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"

    def derive(self, payload: Any) -> tuple[int, dict[str, Any]]:
        """answer(payload), in a worker under the time limit when one is set."""
        if self.pool is None or not self.timeout_seconds:
            return answer(payload)
        try:
            return self.pool.run(payload, self.timeout_seconds)
        except Timeout:
            return 503, _problem(f"the derivative took longer than {self.timeout_seconds:g} s "
                                 "and was stopped; try a smaller expression or a lower order",
                                 "Timeout")
        except Busy:
            return 503, _problem("the server is busy with other derivatives; try again",
                                 "Busy")
        except WorkerDied:
            return 500, _problem("the worker computing this derivative stopped "
                                 "(out of memory?); try a smaller expression", "WorkerDied")

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up is not an error worth a traceback in the log."""
        if isinstance(sys.exc_info()[1], (*HANG_UPS, TimeoutError)):
            log.debug("client %s hung up", client_address)
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        if self.pool is not None:
            self.pool.close()


def _problem(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "line": None, "column": None, "kind": kind,
                      "field": None, "text": None}}


class Handler(BaseHTTPRequestHandler):
    """Routes one request; every answer from /api/ is JSON, errors included."""

    server: MatdiffServer
    server_version = "matdiff-web"

    def version_string(self) -> str:
        return self.server_version
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------------ replies

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except HANG_UPS:  # the client left (a reload, an aborted fetch): nothing to tell it
            self.close_connection = True

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8")

    def _fail(self, status: HTTPStatus, message: str) -> None:
        self.close_connection = True  # an unread or bad body must not pollute the next request
        self._json(status, _problem(message, status.phrase.replace(" ", "")))

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """http.server's own refusals (a PUT, a bad request line) as JSON too."""
        self.log_error("code %d, message %s", code, message)
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.close_connection = True
        self._json(code, _problem(message or phrase, phrase.replace(" ", "")))

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _host_ok(self) -> bool:
        """Loopback servers answer only to their own names (no DNS rebinding)."""
        if not self.server.loopback_only:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.strip("[]") in self.server.allowed_hosts

    # ------------------------------------------------------------------ routes

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if not self._host_ok():
            return self._fail(HTTPStatus.FORBIDDEN, "unknown Host header")
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path == "/favicon.ico":
            return self._static("favicon.svg")
        if path == "/api/examples":
            return self._json(200, {"examples": EXAMPLES, "layouts": list(LAYOUTS)})
        if path == "/api/health":
            return self._json(200, {"ok": True, "mathml": mathml_available()})
        self._fail(HTTPStatus.NOT_FOUND, f"no such page: {path[:200]}")

    do_HEAD = do_GET

    def _static(self, name: str) -> None:
        body = self.server.static.get(name)  # a fixed table: no path ever reaches the disk
        if body is None:
            return self._fail(HTTPStatus.NOT_FOUND, f"no such file: {name[:200]}")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith(".js"):
            kind = "text/javascript"
        if kind.startswith("text/") or kind == "image/svg+xml":
            kind += "; charset=utf-8"
        self._send(200, body, kind)

    def _discard(self, length: int) -> None:
        """Read a refused body that is not huge, so the client gets our answer, not a reset."""
        remaining = length if 0 < length <= 16 * MAX_BODY else 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                return
            remaining -= len(chunk)

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._fail(HTTPStatus.FORBIDDEN, "unknown Host header")
        if self.path.split("?", 1)[0] != "/api/diff":
            return self._fail(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path[:200]}")
        kind = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            return self._fail(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                              "post JSON with Content-Type: application/json")
        if self.headers.get("Transfer-Encoding"):
            return self._fail(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not chunks")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return self._fail(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
        if len(set(lengths)) > 1 or not _DIGITS.fullmatch(lengths[0].strip()):
            shown = ", ".join(repr(v[:40]) for v in lengths[:3])
            return self._fail(HTTPStatus.BAD_REQUEST, "Content-Length must be one whole "
                              f"number of bytes (0 or more), not {shown}")
        length = int(lengths[0])
        if length > MAX_BODY:
            self._discard(length)
            return self._fail(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                              f"the request body is {length} bytes, larger than "
                              f"{MAX_BODY // 1024} KiB")
        try:
            payload = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return self._fail(HTTPStatus.BAD_REQUEST, "the request body is not valid JSON")
        try:
            status, body = self.server.derive(payload)
            self._json(status, body)
        except (ValueError, TypeError):  # an answer JSON cannot hold (NaN): a bug, said plainly
            log.exception("cannot encode the answer to %r", payload)
            self._json(500, _problem("internal error (the answer could not be encoded)",
                                     "InternalError"))


def make_server(host: str = "127.0.0.1", port: int = 8765,
                timeout_seconds: float | None = DEFAULT_TIMEOUT, workers: int = 2,
                quiet: bool = False) -> MatdiffServer:
    """A bound, not yet serving, server; port 0 picks a free port (see `.url`)."""
    return MatdiffServer((host, port), timeout_seconds=timeout_seconds, workers=workers,
                         quiet=quiet)


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
          timeout_seconds: float | None = DEFAULT_TIMEOUT) -> None:
    """Serve the page until Ctrl-C, opening it in the browser first unless told not to."""
    server = make_server(host, port, timeout_seconds=timeout_seconds)
    if server.pool is not None:
        threading.Thread(target=server.pool.warm_up, daemon=True).start()
    print(f"matdiff: serving the page on {server.url}  (Ctrl-C stops it)", flush=True)
    if not server.loopback_only:
        print(f"matdiff: warning: listening on {host}, not loopback: other machines on "
              "the network can use this page", flush=True)
    if not mathml_available():
        print("matdiff: mathematics shows as LaTeX source; pip install 'matdiff[web]' "
              "(latex2mathml) renders it", flush=True)
    if open_browser:
        threading.Timer(0.3, webbrowser.open, args=(server.url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nmatdiff: stopped", flush=True)
    finally:
        server.server_close()
