"""The local web page: a standard-library HTTP server, a JSON endpoint and static files.

Routes: GET / (the page), GET /static/<file>, GET /api/examples, GET /api/health,
POST /api/diff (JSON in, JSON out; see compute.answer). Nothing the user types
is evaluated as code: it goes to matdiff.diff as text. The server binds to
loopback by default, answers only Host headers naming it (a defence against DNS
rebinding), takes only `application/json` posts (so a page on another site
cannot post a plain form to it) and limits the size of request bodies.
"""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import re
import select
import signal
import socket
import sys
import threading
import time
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from .compute import DEFAULT_MEMORY_MB, EXAMPLES, LAYOUTS, answer, mathml_available
from .workers import FAST_SECONDS, Busy, Cancelled, Timeout, WorkerDied, WorkerPool

__all__ = ["make_server", "serve", "MatdiffServer", "MAX_BODY", "DEFAULT_TIMEOUT",
           "DEFAULT_WORKERS", "CLIENT_TIMEOUT", "MAX_CONNECTIONS"]

log = logging.getLogger("matdiff.web")

MAX_BODY = 64 * 1024        # bytes in a request body
DEFAULT_TIMEOUT = 20.0      # seconds for one derivative, all views included
DEFAULT_WORKERS = 3         # worker processes: up to 2 long derivatives and 1 for short ones
CLIENT_TIMEOUT = 10.0       # seconds for a client to send a whole request (or to idle)
MAX_CONNECTIONS = 512       # open connections (one thread each); more get a 503 at once
RETRY_AFTER = 2             # seconds a 503 asks the client to wait before trying again
# POST routes and the task each asks of compute.answer.
POST_ROUTES = {"/api/diff": "diff", "/api/check-backward": "check_backward"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BACKLOG = 1024              # connections the kernel queues before accept (capped by somaxconn)
_DIGITS = re.compile(r"[0-9]{1,18}")
# The interim answer that asks a half-closed HTTP/1.1 client whether it is still there.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
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
    one of `workers` processes, each limited to `memory_mb` of address space,
    killed when the time is up. `client_timeout` bounds how long a client may
    take to send one request, or leave a connection idle; at most
    `max_connections` are open at once.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG  # socketserver's default of 5 resets bursts of connections

    def __init__(self, address: tuple[str, int], timeout_seconds: float | None = DEFAULT_TIMEOUT,
                 workers: int = DEFAULT_WORKERS, quiet: bool = False,
                 memory_mb: int = DEFAULT_MEMORY_MB, client_timeout: float = CLIENT_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS,
                 fast_seconds: float = FAST_SECONDS) -> None:
        self.timeout_seconds = timeout_seconds
        self.client_timeout = client_timeout
        self.max_connections = max_connections
        self.connections = 0  # open now
        self._count = threading.Lock()
        self.pool = (WorkerPool(workers, memory_mb=memory_mb, fast_seconds=fast_seconds)
                     if timeout_seconds else None)
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

    def derive(self, payload: Any,
               cancelled: Any = lambda: False) -> tuple[int, dict[str, Any]] | None:
        """answer(payload), in a worker under the time limit when one is set.

        None when the client went away first: there is nobody to answer.
        """
        if self.pool is None or not self.timeout_seconds:
            return answer(payload)
        try:
            return self.pool.run(payload, self.timeout_seconds, cancelled)
        except Timeout:
            return 503, _problem(f"the derivative took longer than {self.timeout_seconds:g} s "
                                 "and was stopped; try a smaller expression or a lower order",
                                 "Timeout")
        except Busy as e:
            reason = f"{e}; " if str(e) else ""
            long = (f"this one took over {self.pool.fast_seconds:g} s, so it was stopped to keep "
                    "the page quick for short ones; " if "long" in reason else "")
            return 503, _problem(f"the server is busy: {reason}{long}try again when they "
                                 "finish", "Busy")
        except Cancelled:  # nobody is listening
            return None
        except WorkerDied:
            if self.pool.closed:
                return 503, _problem("the server is stopping", "Stopping")
            # The worker is the server's upstream: it gave no valid answer (a crash, or
            # the kernel ended it), which 502 says; a new worker is already starting.
            return 502, _problem("the worker computing this derivative stopped without "
                                 "answering (out of memory?); try a smaller expression",
                                 "WorkerDied")

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, up to max_connections; beyond that a 503 at once."""
        with self._count:
            full = self.connections >= self.max_connections
            if not full:
                self.connections += 1
        if not full:
            return super().process_request(request, client_address)
        body = json.dumps(_problem("too many open connections; try again", "Busy")).encode()
        try:
            request.settimeout(1.0)
            request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                            b"Retry-After: " + str(RETRY_AFTER).encode() + b"\r\n"
                            b"Content-Type: application/json; charset=utf-8\r\n"
                            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            # Read what the client has sent already: closing with unread data sends a
            # reset, which can reach the client before it reads the 503.
            if hasattr(socket, "MSG_DONTWAIT"):
                request.recv(MAX_BODY, socket.MSG_DONTWAIT)
        except OSError:
            pass
        self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count:
                self.connections -= 1

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


class _RequestLate(TimeoutError):
    """The request (head or body) did not arrive within the client timeout."""


class _DeadlineReader(io.RawIOBase):
    """A connection's input that fails with TimeoutError once the request's time is up.

    A socket timeout alone bounds each read, so a client sending a byte every
    few seconds would hold its thread forever; this bounds the whole request.
    Past the deadline it still takes what has already arrived: a thread that
    ran late (a loaded machine, hundreds of threads sharing the GIL) must not
    blame a client whose request came in time. It counts the bytes it read, so
    a timeout can tell a request that had begun from a connection left idle.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.handler.deadline - time.monotonic()
        connection = self.handler.connection
        connection.settimeout(max(remaining, 0.0))  # 0: only what is there already
        try:
            count = connection.recv_into(buffer)
        except (BlockingIOError, TimeoutError):
            raise _RequestLate("the client took too long to send its request") from None
        self.received += count
        return count


class _RequestInput(io.BufferedReader):
    """A connection's buffered input that remembers whether the last line it read
    was cut short (no end of line: the client closed its sending side), so a
    request ended early is not taken for a whole one."""

    cut = False

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(-1 if size is None else size)
        self.cut = not line.endswith(b"\n")
        return line


class Handler(BaseHTTPRequestHandler):
    """Routes one request; every answer from /api/ is JSON, errors included."""

    server: MatdiffServer
    server_version = "matdiff-web"
    deadline = 0.0  # monotonic time by which the current request must have arrived
    answered = 0    # requests answered on this connection
    probed = False  # this request's client was sent a 100 Continue (see _client_gone)

    def setup(self) -> None:
        super().setup()
        self.input = _DeadlineReader(self)
        self.rfile = _RequestInput(self.input)

    def handle_one_request(self) -> None:
        """One request, which must arrive within client_timeout (also the idle limit).

        A request that does not arrive in time gets a 408 when one was due: the
        connection's first (a client that connected and was then starved of the
        CPU must not read an empty reply), or one of which a byte had come (also
        a byte read ahead with the previous request, when pipelined). A
        connection left idle after an answer is closed without one, as
        http.server does: it asked for nothing (and a 408 there could be taken
        for the answer to a request crossing it).
        """
        self.deadline = time.monotonic() + self.server.client_timeout
        self.probed = False
        begun = self.answered == 0 or self._arrived()
        received = self.input.received
        self.raw_requestline = b""
        try:
            try:
                self.raw_requestline = self.rfile.readline(65537)
                if len(self.raw_requestline) > 65536:
                    self.requestline = self.request_version = self.command = ""
                    return self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                if not self.raw_requestline:
                    self.close_connection = True
                    return None
                if self.rfile.cut:
                    return self._ended_early("request line")
                if not self.parse_request():  # it reads the header lines
                    return None
                if self.rfile.cut:
                    return self._ended_early("head")  # no blank line ended the header lines
            except _RequestLate:
                return self._late(idle=not begun and self.input.received == received)
            self.answered += 1
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                return self.send_error(HTTPStatus.NOT_IMPLEMENTED,
                                       f"unsupported method ({self.command!r})")
            method()
            self.wfile.flush()  # actually send the response if not already done
        except TimeoutError as e:  # a write timed out: the client stopped reading
            self.log_error("Request timed out: %r", e)
            self.close_connection = True
        return None

    def _arrived(self) -> bool:
        """Whether a byte of the next request is here, without waiting for one.

        It may have come with the previous request (pipelined) and sit in the
        read buffer already: counting the socket's bytes from now on would take
        that connection for idle, and close it silently instead of with a 408.
        """
        deadline, self.deadline = self.deadline, 0.0  # the reader takes only what is there
        try:
            return bool(self.rfile.peek(1))
        except OSError:  # nothing there (_RequestLate), or a reset
            return False
        finally:
            self.deadline = deadline

    def _ended_early(self, part: str) -> None:
        """A 400 for a request whose client closed its sending side before its end: it
        may still be reading (a half-close), and a silent close looks like a crash."""
        if part == "request line":
            self.command, self.request_version = "", "HTTP/1.1"
            self.requestline = self.raw_requestline.decode("latin-1")[:200]
        self._fail(HTTPStatus.BAD_REQUEST, f"the request ended in the middle of its {part} "
                   "(the client closed its sending side)")

    def _late(self, idle: bool) -> None:
        """A head that did not arrive in time: a 408, unless the connection was idle."""
        self.close_connection = True
        if idle:  # after an answer, with no byte since: nobody is waiting for one
            return
        self.command, self.request_version = "", "HTTP/1.1"
        self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")[:200]
        self._fail(HTTPStatus.REQUEST_TIMEOUT,
                   f"the request did not arrive within {self.server.client_timeout:g} s")

    def _client_gone(self) -> bool:
        """Whether the client has left (checked while its derivative waits or runs).

        A reset or an error on the socket: gone. Bytes waiting (a pipelined next
        request): here. An end of file alone is not enough: TCP sends the same FIN
        for close() and for shutdown(SHUT_WR), the half-close after which a client
        (an HTTP/1.0 tool, a proxy) still reads its answer. So an HTTP/1.1 client is
        asked, once per request, with an interim `100 Continue` (every HTTP/1.1
        client must accept 1xx responses, RFC 9110 15.2): a closed socket answers
        it with a reset, seen at the next check; a half-closed one reads it, then
        the answer. An HTTP/1.0 client may be sent no 1xx, so its end of file is
        taken for a half-close and its request computed.
        """
        try:
            if not self._readable():
                return False
            if self.connection.recv(1, socket.MSG_PEEK):
                return False
        except (OSError, ValueError):
            return True
        if self.probed or self.request_version in ("HTTP/0.9", "HTTP/1.0"):
            return False
        self.probed = True
        try:
            self.connection.settimeout(self.server.client_timeout)
            self.connection.sendall(CONTINUE)
            if self._readable():  # a reset already back (loopback): the read raises it
                self.connection.recv(1, socket.MSG_PEEK)
        except (OSError, ValueError):
            return True
        return False

    def _readable(self) -> bool:
        """Whether a read would not block (data, an end of file, a reset); poll() says a
        reset (POLLERR, POLLHUP) itself, where select() leaves it to the read."""
        if hasattr(select, "poll"):  # select() fails for a descriptor past 1023
            poller = select.poll()
            poller.register(self.connection, select.POLLIN)
            events = poller.poll(0)
            if events and events[0][1] & (select.POLLERR | select.POLLHUP):
                raise ConnectionResetError
            return bool(events)
        return bool(select.select([self.connection], [], [], 0)[0])

    def version_string(self) -> str:
        return self.server_version
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------------ replies

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.connection.settimeout(self.server.client_timeout)  # a client that stops reading
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            self.send_header("Retry-After", str(RETRY_AFTER))
        if self.close_connection:  # the client must not send another request on it
            self.send_header("Connection", "close")
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
        # A request line too broken to name its version would get a bare HTTP/0.9 body:
        # every client alive today expects a status line, so it gets one.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
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
            workers = self.server.pool.stats() if self.server.pool is not None else None
            return self._json(200, {"ok": True, "mathml": mathml_available(),
                                    "workers": workers})
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
        route = self.path.split("?", 1)[0]
        if route not in POST_ROUTES:
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
            data = self.rfile.read(length)
        except TimeoutError:
            return self._fail(HTTPStatus.REQUEST_TIMEOUT, "the request body did not arrive "
                              f"within {self.server.client_timeout:g} s")
        if len(data) < length:  # the client closed its side before the whole body
            return self._ended_early(f"body ({len(data)} of {length} bytes came)")
        try:
            payload = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return self._fail(HTTPStatus.BAD_REQUEST, "the request body is not valid JSON")
        if isinstance(payload, dict):  # the route, never the body, says what to do
            payload["task"] = POST_ROUTES[route]
        try:
            answered = self.server.derive(payload, self._client_gone)
            if answered is None:  # the client left while it waited: nothing to send
                self.close_connection = True
                return None
            status, body = answered
            self._json(status, body)
        except (ValueError, TypeError):  # an answer JSON cannot hold (NaN): a bug, said plainly
            log.exception("cannot encode the answer to %r", payload)
            self._json(500, _problem("internal error (the answer could not be encoded)",
                                     "InternalError"))


def make_server(host: str = "127.0.0.1", port: int = 8765,
                timeout_seconds: float | None = DEFAULT_TIMEOUT, workers: int = DEFAULT_WORKERS,
                quiet: bool = False, **limits: Any) -> MatdiffServer:
    """A bound, not yet serving, server; port 0 picks a free port (see `.url`).

    `limits`: memory_mb, client_timeout, max_connections, fast_seconds (see MatdiffServer).
    """
    return MatdiffServer((host, port), timeout_seconds=timeout_seconds, workers=workers,
                         quiet=quiet, **limits)


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and `kill PID` (SIGTERM) stop the server and its workers.

    SIGINT is set explicitly: a command started in the background by a
    non-interactive shell (`matdiff serve &` in a script, a test runner run that
    way) inherits SIGINT ignored, and Python then leaves it ignored.
    """
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, stop)


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
          timeout_seconds: float | None = DEFAULT_TIMEOUT, workers: int = DEFAULT_WORKERS,
          **limits: Any) -> None:
    """Serve the page until Ctrl-C (or SIGTERM), opening it in a browser unless told not to."""
    server = make_server(host, port, timeout_seconds=timeout_seconds, workers=workers, **limits)
    _stop_on_signals()
    if server.pool is not None:
        server.pool.warm_up()
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
