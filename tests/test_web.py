"""The local web page (`matdiff serve`): its JSON endpoint, static files and refusals.

A real server runs in a thread on an ephemeral loopback port and is spoken to
over HTTP with the standard library, so these tests see what a browser sees.
Answers must equal the public API's (`str(matdiff.diff(...))`, `d.explain()`,
`d.source()`): the page is a view, not a second implementation. No browser
runs here; docs/web.md says how the page was checked by hand in Chromium.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import matdiff
from matdiff.cli import main
from matdiff.web.compute import mathml_available, parse_declarations
from matdiff.web.server import MAX_BODY, MatdiffServer, make_server

needs_mathml = pytest.mark.skipif(not mathml_available(),
                                  reason="latex2mathml (the web extra) is not installed")


def start(**options: Any) -> MatdiffServer:
    server = make_server("127.0.0.1", 0, quiet=True, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop(server: MatdiffServer) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[MatdiffServer]:
    """Answers in the request's thread (no worker processes): fast to start."""
    s = start(timeout_seconds=None)
    yield s
    stop(s)


def request(server: MatdiffServer, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP exchange: status, headers (lower-case names), body."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        conn.close()


def post(server: MatdiffServer, payload: Any) -> tuple[int, dict[str, Any]]:
    """POST /api/diff with urllib, as the page does; (status, JSON body)."""
    req = urllib.request.Request(server.url + "api/diff", data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


# --------------------------------------------------------------------------- answers

CASES = [
    ("x'*A*x", "x", "", 1),
    ("x'*A*x", "x", "A=symmetric matrix", 1),
    ("max(0, w'*x + b)", "w", "b=scalar", 1),
    ("mean((y - max(0, X*w + b)).^2)", "w", "", 1),
    ("softmax(x)", "x", "", 1),
    ("sum(log(1 + exp(-y .* (X*w))))", "w", "", 2),
    ("W*x", "W", "", 1),
]


@pytest.mark.parametrize("expression, wrt, declare, order", CASES)
def test_answer_is_the_public_api_answer(server, expression, wrt, declare, order):
    status, body = post(server, {"expression": expression, "wrt": wrt, "declare": declare,
                                 "order": order})
    assert status == 200, body
    d = matdiff.diff(expression, wrt=wrt, declare=parse_declarations(declare) or None,
                     order=order)
    assert body["text"] == str(d)
    assert body["latex"] == d.latex()
    assert body["shape"] == [str(n) for n in d.shape]
    assert body["steps"] == d.explain(format="text")
    assert body["source"] == d.source()
    assert body["check"]["ok"] and body["check"]["max_relative_error"] < 1e-6


@pytest.mark.parametrize("layout", ["shape", "numerator", "denominator"])
def test_layouts(server, layout):
    status, body = post(server, {"expression": "x'*A*x", "wrt": "x", "layout": layout})
    d = matdiff.diff("x'*A*x", wrt="x")
    assert status == 200
    assert (body["text"], body["latex"]) == (d.to_text(layout=layout), d.latex(layout=layout))


def test_every_example_on_the_page_derives(server):
    status, _, raw = request(server, "GET", "/api/examples")
    examples = json.loads(raw)["examples"]
    assert status == 200 and len(examples) >= 5
    for example in examples:
        status, body = post(server, example)
        assert status == 200, (example, body)
        assert body["check"]["ok"], example
        for gradient in body.get("gradients", []):  # the programs: every gradient checked
            assert gradient["check"]["ok"], (example["title"], gradient["wrt"])
    titles = [e["title"] for e in examples]
    assert "a two-layer net" in titles and "batch norm" in titles


def test_several_names_give_the_backward_pass_and_each_gradient_as_the_api_does(server):
    program = "b1, b2: vector\nz1 = W1*x + b1\nh1 = relu(z1)\nz2 = W2*h1 + b2\n" \
              "L = -y'*log(softmax(z2))"
    names = ["W1", "b1", "W2", "b2"]
    status, body = post(server, {"expression": program, "wrt": ", ".join(names)})
    assert status == 200, body
    grads = matdiff.grad(program, wrt=names)
    assert body["backward"] == grads.to_text() and body["backward_latex"] == grads.latex()
    assert [g["wrt"] for g in body["gradients"]] == names
    for entry in body["gradients"]:
        assert entry["text"] == grads[entry["wrt"]].to_text()
        assert entry["equation_latex"].startswith("\\frac{\\partial L}")  # the program's L
        assert entry["check"]["ok"]
    assert body["function_name"] == "L" and body["function_latex"].startswith("L = ")


def test_declarations_split_at_names_not_inside_types():
    assert parse_declarations("A=matrix(m, n), b=scalar; x = vector(n)") == {
        "A": "matrix(m, n)", "b": "scalar", "x": "vector(n)"}
    assert parse_declarations("  ") == {}
    with pytest.raises(matdiff.MatdiffError):
        parse_declarations("A symmetric")


@needs_mathml
def test_mathml_rendered_on_the_server(server):
    status, body = post(server, {"expression": "max(0, w'*x + b)", "wrt": "w",
                                 "declare": "b=scalar"})
    assert status == 200 and body["mathml_available"]
    assert body["mathml"].startswith("<math") and "display=\"block\"" in body["mathml"]
    assert "<mi>step</mi>" in body["mathml"]  # a function name, not spaced as an operator
    assert body["function_mathml"].startswith("<math")


def test_latex_source_without_the_web_extra(server, monkeypatch):
    monkeypatch.setitem(sys.modules, "latex2mathml", None)
    monkeypatch.setitem(sys.modules, "latex2mathml.converter", None)
    status, body = post(server, {"expression": "x'*A*x", "wrt": "x"})
    assert status == 200
    assert body["mathml"] is None and body["mathml_available"] is False
    assert body["equation_latex"].endswith(matdiff.diff("x'*A*x", wrt="x").latex())


# --------------------------------------------------------------------------- input errors


def test_parse_error_is_400_with_its_position(server):
    status, body = post(server, {"expression": "x + * y", "wrt": "x"})
    assert status == 400
    error = body["error"]
    assert (error["line"], error["column"], error["field"]) == (1, 5, "expression")
    assert error["message"] == "unexpected '*'" and error["text"] == "x + * y"
    assert "Traceback" not in json.dumps(body)


def test_shape_error_is_400_with_its_position(server):
    # declared: undeclared, its use would make y (or B) a scalar
    status, body = post(server, {"expression": "A*x + y*B", "wrt": "x",
                                 "declare": "y=vector, B=matrix"})
    assert status == 400
    assert body["error"]["kind"] == "ShapeError" and body["error"]["column"] == 8


@pytest.mark.parametrize("payload, field", [
    ({"expression": "x + y", "wrt": "q"}, "wrt"),                       # not a variable
    ({"expression": "x + y", "wrt": "x y"}, "wrt"),
    ({"expression": "x + y", "wrt": "x", "declare": "x=blob"}, "declare"),   # unknown type
    ({"expression": "x + y", "wrt": "x", "declare": "x=matrix(3,"}, "declare"),
    ({"expression": "x + y", "wrt": "x", "declare": {"2x": "scalar"}}, "declare"),
    ({"expression": "x + y", "wrt": "x", "declare": "x"}, "declare"),
    ({"expression": "x + y", "wrt": "x", "order": 9}, "order"),
    ({"expression": "x + y", "wrt": "x", "order": 0}, "order"),
    ({"expression": "x + y", "wrt": "x", "order": 2.5}, "order"),
    ({"expression": "x + y", "wrt": "x", "order": "two"}, "order"),
    ({"expression": "x + * y", "wrt": "q", "order": 2}, "expression"),
    ({"expression": "x + y", "wrt": "x", "layout": "sideways"}, "layout"),
    ({"expression": "   ", "wrt": "x"}, "expression"),
    ({"expression": "x" * 5000, "wrt": "x"}, "expression"),
    ({"expression": "x + y"}, "wrt"),
    (["x + y", "x"], "body"),
])
def test_bad_fields_are_400_with_a_message(server, payload, field):
    status, body = post(server, payload)
    assert status == 400
    assert body["error"]["message"] and body["error"]["field"] == field


@pytest.mark.parametrize("expression, column", [
    ("x/0", 2), ("x/(1-1)", 2), ("10^400*x", 3), ("x*1e308*1e308", 8),
])
def test_constant_overflow_is_400_at_its_operator(server, expression, column):
    """Constant folding that overflows or divides by zero: the page marks the operator."""
    status, body = post(server, {"expression": expression, "wrt": "x"})
    assert status == 400
    error = body["error"]
    assert (error["field"], error["line"], error["column"]) == ("expression", 1, column)
    assert "internal error" not in error["message"] and error["text"] == expression


def test_order_three_is_derived(server):
    status, body = post(server, {"expression": "sum(exp(x))", "wrt": "x", "order": "3"})
    assert status == 200 and body["order"] == 3
    assert body["text"] == str(matdiff.diff("sum(exp(x))", wrt="x", order=3))


def test_internal_error_is_500_without_a_traceback(server, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a secret detail of the engine")

    monkeypatch.setattr(matdiff, "diff", broken)
    status, body = post(server, {"expression": "x'*A*x", "wrt": "x"})
    assert status == 500
    text = json.dumps(body)
    assert "internal error" in body["error"]["message"]
    assert "secret" not in text and "Traceback" not in text


# --------------------------------------------------------------------------- HTTP refusals


def test_oversized_body_is_refused(server):
    body = json.dumps({"expression": "x" * (MAX_BODY + 10), "wrt": "x"}).encode()
    status, _, raw = request(server, "POST", "/api/diff", body,
                             {"Content-Type": "application/json"})
    assert status == 413 and "KiB" in json.loads(raw)["error"]["message"]


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "+5", "5_0", " ", "99999999999999999999"])
def test_malformed_content_length_is_400(server, length):
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /api/diff HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: " + length.encode() + b"\r\n\r\n{}")
        reply = _read_all(sock)
    head, _, raw = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    message = json.loads(raw)["error"]["message"]
    assert "Content-Length" in message and "KiB" not in message


def test_conflicting_content_lengths_are_400(server):
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /api/diff HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}")
        assert _read_all(sock).startswith(b"HTTP/1.1 400")


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_clients_that_hang_up_leave_no_traceback(server, capfd):
    """A client gone before its answer (an aborted fetch) is no error for the log."""
    host, port = server.server_address[:2]
    body = json.dumps({"expression": "sum(log(1 + exp(-y .* (X*w))))", "wrt": "w",
                       "order": 2}).encode()
    for _ in range(20):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(b"POST /api/diff HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        # close with a reset (no FIN handshake), as a killed browser tab does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    status, _ = post(server, {"expression": "x'*A*x", "wrt": "x"})  # answered after them all
    assert status == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err


@pytest.mark.parametrize("body, content_type, status", [
    (b"{not json", "application/json", 400),
    (b'{"expression": "x", "wrt": "x"}', "text/plain", 415),   # no cross-site form posts
])
def test_malformed_posts(server, body, content_type, status):
    got, headers, raw = request(server, "POST", "/api/diff", body, {"Content-Type": content_type})
    assert got == status and headers["content-type"].startswith("application/json")
    assert json.loads(raw)["error"]["message"]


def test_page_and_static_files(server):
    status, headers, raw = request(server, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"matdiff" in raw and b"/static/app.js" in raw
    assert "default-src 'self'" in headers["content-security-policy"]
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css"),
                       ("favicon.svg", "image/svg+xml")]:
        status, headers, raw = request(server, "GET", f"/static/{name}")
        assert status == 200 and headers["content-type"].startswith(kind) and raw


@pytest.mark.parametrize("method, path", [
    ("GET", "/nope"), ("GET", "/static/../server.py"), ("GET", "/static/missing.js"),
    ("POST", "/api/other"),
])
def test_unknown_paths_are_404(server, method, path):
    headers = {"Content-Type": "application/json"}
    status, _, raw = request(server, method, path, b"{}" if method == "POST" else None, headers)
    assert status == 404 and json.loads(raw)["error"]["message"]


def test_unsupported_method_is_json(server):
    status, headers, raw = request(server, "PUT", "/api/diff", b"{}")
    assert status == 501 and headers["content-type"].startswith("application/json")
    assert json.loads(raw)["error"]["message"]


def test_foreign_host_header_is_refused(server):
    status, _, _ = request(server, "GET", "/", headers={"Host": "evil.example:8765"})
    assert status == 403
    status, _, _ = request(server, "GET", "/api/health", headers={"Host": "localhost:1"})
    assert status == 200


# --------------------------------------------------------------------------- time limit, CLI


def test_time_limit_stops_a_worker_and_the_next_request_is_answered(monkeypatch):
    monkeypatch.setenv("MATDIFF_WEB_TEST_SLEEP", "30")  # the workers' slow-request hook
    s = start(timeout_seconds=30, workers=1)
    try:
        assert post(s, {"expression": "sum(x)", "wrt": "x"})[0] == 200  # a worker is ready
        first = s.pool.workers()
        s.timeout_seconds = 0.5
        status, body = post(s, {"expression": "sum(x)", "wrt": "x", "test_sleep": True})
        assert status == 503 and body["error"]["kind"] == "Timeout"
        assert not set(first) & set(s.pool.workers())  # killed, and replaced
        s.timeout_seconds = 30.0
        status, body = post(s, {"expression": "x'*A*x", "wrt": "x"})
        assert status == 200 and body["text"] == "(A + A')*x"
        status, body = post(s, {"expression": "x +", "wrt": "x"})
        assert status == 400 and body["error"]["line"] == 1
    finally:
        stop(s)


def test_a_worker_that_dies_mid_request_is_a_502_and_is_replaced(monkeypatch):
    import os
    import signal

    monkeypatch.setenv("MATDIFF_WEB_TEST_SLEEP", "30")
    s = start(timeout_seconds=30, workers=1)
    try:
        assert post(s, {"expression": "sum(x)", "wrt": "x"})[0] == 200
        (pid,) = s.pool.workers()
        threading.Timer(0.5, os.kill, args=(pid, signal.SIGKILL)).start()
        status, body = post(s, {"expression": "sum(x)", "wrt": "x", "test_sleep": True})
        assert status == 502 and body["error"]["kind"] == "WorkerDied"
        assert post(s, {"expression": "sum(x)", "wrt": "x"})[0] == 200
        assert pid not in s.pool.workers() and len(s.pool.workers()) == 1
    finally:
        stop(s)


def test_no_worker_is_handed_out_before_it_is_ready():
    """A request that finds every worker still starting waits for one (here past its
    time: 503 Busy with Retry-After); it never writes to a worker still importing."""
    s = start(timeout_seconds=0.05, workers=1)
    try:
        status, headers, raw = request(s, "POST", "/api/diff",
                                       json.dumps({"expression": "sum(x)", "wrt": "x"}).encode(),
                                       {"Content-Type": "application/json"})
        assert status == 503 and json.loads(raw)["error"]["kind"] == "Busy"
        assert headers["retry-after"].isdigit()
        deadline = time.monotonic() + 60
        while s.pool.stats()["idle"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert s.pool.stats() == {"size": 1, "live": 1, "ready": 1, "idle": 1, "starting": 0,
                                  "long": 0}
    finally:
        stop(s)


def test_serve_reports_a_taken_port(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--port", str(port), "--no-browser"])
    assert code == 2 and "cannot listen" in capsys.readouterr().err


def test_cli_import_stays_light():
    code = ("import sys, matdiff.cli, matdiff.commands.serve; "
            "print('matdiff.web.server' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert out.split()[0] == "False"


@needs_mathml
def test_a_backward_pass_is_typeset_not_left_as_source() -> None:
    from matdiff.web.compute import render_mathml

    g = matdiff.grad("z = W*x + b; h = relu(z); L = sum(h.^2)", wrt=["W", "b"],
                     declare={"b": "vector"})
    assert "aligned" in g.latex()
    mathml = render_mathml(g.latex())
    assert mathml is not None and "<mtable" in mathml


# --------------------------------------------------------------------------- backward pass checks


class _Line:
    def __init__(self, name: str, equal: bool, mistake: str | None, expected: str) -> None:
        self.name, self.equal, self.mistake, self.expected = name, equal, mistake, expected


class _Verdict:
    """matdiff.compare's answer for a whole backward pass, as its interface is agreed:
    equal, first_wrong, lines (name, equal, mistake, expected), to_dict()."""

    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.equal = all(line.equal for line in lines)
        self.first_wrong = next((line.name for line in lines if not line.equal), None)

    def to_dict(self) -> dict[str, Any]:
        return {"equal": self.equal, "first_wrong": self.first_wrong}

    def __str__(self) -> str:
        return "right" if self.equal else f"{self.first_wrong} is wrong"


def test_check_backward_sends_the_lines_to_compare_and_returns_each_verdict(server,
                                                                           monkeypatch):
    seen = {}

    def compare(answer, of, wrt, declare=None, **options):
        seen.update(answer=answer, of=of, wrt=wrt, declare=declare)
        return _Verdict([_Line("dz", True, None, "step(z)"),
                         _Line("dW", False, "transpose", "dz*x'")])

    monkeypatch.setattr(matdiff, "compare", compare)
    payload = {"expression": "z = W*x + b\nL = sum(relu(z))", "wrt": "W, b",
               "declare": "b=vector", "answer": "dz = step(z)\ndW = x*dz'"}
    status, _, raw = request(server, "POST", "/api/check-backward", json.dumps(payload).encode(),
                             {"Content-Type": "application/json"})
    body = json.loads(raw)
    assert status == 200, body
    assert seen == {"answer": payload["answer"], "of": payload["expression"],
                    "wrt": ["W", "b"], "declare": {"b": "vector"}}
    result = body["comparison"]
    assert result["equal"] is False and result["first_wrong"] == "dW"
    assert result["lines"] == [
        {"name": "dz", "equal": True, "mistake": None, "expected": "step(z)",
         "diagnosis": None, "line": None},
        {"name": "dW", "equal": False, "mistake": "transpose", "expected": "dz*x'",
         "diagnosis": None, "line": None}]
    assert result["summary"] == "dW is wrong"


def test_check_backward_reports_an_unreadable_pass_in_the_comparison(server, monkeypatch):
    def compare(answer, of, wrt, declare=None, **options):
        raise matdiff.MatdiffError("unexpected '*'", line=2, column=6)

    monkeypatch.setattr(matdiff, "compare", compare)
    payload = {"expression": "z = W*x\nL = sum(z)", "wrt": "W, x", "answer": "dz = 1\ndW = *"}
    status, _, raw = request(server, "POST", "/api/check-backward", json.dumps(payload).encode(),
                             {"Content-Type": "application/json"})
    assert status == 200
    error = json.loads(raw)["comparison"]["error"]
    assert (error["line"], error["column"], error["text"]) == (2, 6, payload["answer"])
    status, _, raw = request(server, "POST", "/api/check-backward",
                             json.dumps({**payload, "answer": " "}).encode(),
                             {"Content-Type": "application/json"})
    assert status == 400 and json.loads(raw)["error"]["field"] == "answer"


def test_a_client_on_a_descriptor_past_1023_is_not_taken_for_gone():
    """select() cannot watch a descriptor past 1023 and raised, which read as 'the
    client has gone' and dropped the request; a busy server reaches such numbers."""
    import os
    import resource

    from matdiff.web.server import Handler

    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1300:
        pytest.skip("this process may not open descriptor 1200")
    ours, theirs = socket.socketpair()
    high = os.dup2(ours.fileno(), 1200)
    connection = socket.socket(fileno=high)
    try:
        handler = Handler.__new__(Handler)
        handler.connection = connection
        assert not handler._client_gone()
        theirs.sendall(b"GET / HTTP/1.1\r\n")  # a next request on the way: still here
        assert not handler._client_gone()
        theirs.close()
        connection.recv(100)
        assert handler._client_gone()
    finally:
        connection.close()
        ours.close()
        theirs.close()


def test_a_connection_over_the_limit_gets_a_503_with_retry_after_not_a_reset():
    s = start(timeout_seconds=None, max_connections=2, client_timeout=5)
    held = [socket.create_connection(s.server_address[:2], timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)  # both accepted: the limit is reached
        for _ in range(5):
            with socket.create_connection(s.server_address[:2], timeout=5) as sock:
                sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: " in head
            assert "connections" in json.loads(body)["error"]["message"]
    finally:
        for sock in held:
            sock.close()
        stop(s)


def _read_until_closed(sock: socket.socket) -> bytes:
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    return reply


@pytest.mark.parametrize("sent", [b"", b"POST /api/diff HTTP/1.1\r\nHo"],
                         ids=["nothing", "half a head"])
def test_a_request_that_does_not_arrive_in_time_gets_a_408_not_an_empty_reply(sent):
    """A client that connects and then sends nothing (or half a head) within the client
    timeout is told so. Under a flood on a loaded machine, a starved client that wrote
    its request just too late once read an empty reply, which looks like a crash."""
    s = start(timeout_seconds=None, client_timeout=0.5)
    try:
        with socket.create_connection(s.server_address[:2], timeout=5) as sock:
            sock.sendall(sent)
            started = time.monotonic()
            reply = _read_until_closed(sock)
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), reply[:200]
        assert b"\r\nConnection: close" in head
        assert "did not arrive within 0.5 s" in json.loads(body)["error"]["message"]
        assert time.monotonic() - started < 3
        # Keep-alive: a connection idle after its answer gets no unasked-for 408 (it
        # could be read as the answer to a request crossing it): it is just closed.
        with socket.create_connection(s.server_address[:2], timeout=5) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            reply = _read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 200 ") and reply.count(b"HTTP/1.1 ") == 1, reply
    finally:
        stop(s)


def test_a_thread_that_runs_late_still_reads_a_request_that_came_in_time():
    """Past the request's deadline, the reader takes what has already arrived: with
    hundreds of threads on a loaded machine, a thread may run long after its client
    sent everything, and must not answer that client with a timeout."""
    from matdiff.web.server import _DeadlineReader

    ours, theirs = socket.socketpair()
    try:
        handler = types.SimpleNamespace(connection=ours, deadline=time.monotonic() - 5)
        reader = _DeadlineReader(handler)
        theirs.sendall(b"GET / HTTP/1.1\r\n")
        buffer = bytearray(100)
        assert reader.readinto(buffer) == 16 and bytes(buffer[:16]) == b"GET / HTTP/1.1\r\n"
        with pytest.raises(TimeoutError):  # nothing more has come: now it is late
            reader.readinto(buffer)
    finally:
        ours.close()
        theirs.close()


# --------------------------------------------------------------------------- half-closed, pipelined


def _loopback_pair() -> tuple[socket.socket, socket.socket]:
    """(client, server side) of one TCP connection on loopback, both with timeouts."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2], timeout=5)
        ours, _ = listener.accept()
    ours.settimeout(5)
    return client, ours


def _watching(connection: socket.socket, version: str) -> Any:
    """A Handler, as a request's thread has it while its derivative runs."""
    from matdiff.web.server import Handler

    handler = Handler.__new__(Handler)
    handler.connection = connection
    handler.request_version = version
    handler.server = types.SimpleNamespace(client_timeout=5.0)
    return handler


def _gone_within(handler: Any, seconds: float) -> bool:
    """Whether _client_gone() turns true within `seconds`, checked as the pool does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if handler._client_gone():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_a_half_closed_client_is_not_taken_for_gone_but_a_reset_or_closed_one_is(version):
    """shutdown(SHUT_WR) after a whole request (HTTP/1.0 tools, some proxies) is a FIN,
    as close() is: the end of file alone was taken for 'gone' and the request dropped.
    An HTTP/1.1 client is sent one interim `100 Continue`, which a closed socket answers
    with a reset; a half-closed one reads it, then its answer."""
    client, ours = _loopback_pair()
    try:
        handler = _watching(ours, version)
        client.sendall(b"POST /api/diff " + version.encode() + b"\r\n\r\n")
        ours.recv(100)  # the request, read by the handler
        client.shutdown(socket.SHUT_WR)
        assert not _gone_within(handler, 0.5)
        interim = b"HTTP/1.1 100 Continue\r\n\r\n" if version == "HTTP/1.1" else b""
        ours.sendall(b"the answer")
        client.settimeout(5)
        received = b""
        while len(received) < len(interim) + 10:
            received += client.recv(100)
        assert received == interim + b"the answer"
        assert not handler._client_gone()
    finally:
        client.close()
        ours.close()
    client, ours = _loopback_pair()  # a reset (a killed tab): gone at once
    try:
        handler = _watching(ours, version)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        assert _gone_within(handler, 2)
    finally:
        ours.close()
    if version == "HTTP/1.0":  # no 1xx may go to it: its FIN reads as a half-close
        return
    client, ours = _loopback_pair()  # closed (an aborted fetch): gone after the probe
    try:
        handler = _watching(ours, version)
        client.close()
        assert _gone_within(handler, 2)
    finally:
        ours.close()


def _replies(data: bytes) -> list[tuple[bytes, bytes]]:
    """Whole HTTP responses (head, body) as they came one after another; interim 1xx
    responses left out. Raises if the last one is cut short."""
    replies = []
    while data:
        head, separator, data = data.partition(b"\r\n\r\n")
        assert separator, f"a response cut short: {head[:200]!r}"
        if head.split(b" ", 2)[1].startswith(b"1"):
            continue
        length = int(re.search(rb"\r\nContent-Length: ([0-9]+)", head)[1])
        assert len(data) >= length, f"a body cut short: {head[:200]!r}"
        replies.append((head, data[:length]))
        data = data[length:]
    return replies


def test_a_half_closed_client_gets_its_whole_answer(monkeypatch):
    """A request whose client shut its write side is computed and answered whole, also
    when it waits in the long lane (checked for 'gone' four times a second) and when a
    second request was pipelined before the FIN."""
    monkeypatch.setenv("MATDIFF_WEB_TEST_SLEEP", "0.6")  # the workers' slow-request hook
    s = start(timeout_seconds=30, workers=1, fast_seconds=0.2)
    body = json.dumps({"expression": "x'*A*x", "wrt": "x", "test_sleep": True}).encode()
    try:
        for version, count in [("HTTP/1.0", 1), ("HTTP/1.1", 1), ("HTTP/1.1", 2)]:
            one = (f"POST /api/diff {version}\r\nHost: 127.0.0.1\r\nContent-Type: "
                   f"application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            with socket.create_connection(s.server_address[:2], timeout=30) as sock:
                sock.sendall(one * count)
                sock.shutdown(socket.SHUT_WR)
                replies = _replies(_read_until_closed(sock))
            assert len(replies) == count, (version, replies)
            for head, answer in replies:
                assert head.startswith(b"HTTP/1.1 200 "), head
                assert json.loads(answer)["text"] == "(A + A')*x"
    finally:
        stop(s)


def test_a_pipelined_partial_request_gets_a_408_after_the_first_is_answered():
    """A whole request, then half the head of a second, then nothing: the first is
    answered, the second meets the client timeout with a 408 (its bytes had come with
    the first request, so the connection was not idle), then the connection closes."""
    s = start(timeout_seconds=None, client_timeout=0.5)
    try:
        with socket.create_connection(s.server_address[:2], timeout=5) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                         b"GET /api/health HTTP/1.1\r\nHo")
            started = time.monotonic()
            replies = _replies(_read_until_closed(sock))
        assert [head.split(b"\r\n", 1)[0] for head, _ in replies] == [
            b"HTTP/1.1 200 OK", b"HTTP/1.1 408 Request Timeout"], replies
        assert json.loads(replies[0][1])["ok"] is True
        assert b"\r\nConnection: close" in replies[1][0]
        assert "did not arrive within 0.5 s" in json.loads(replies[1][1])["error"]["message"]
        assert time.monotonic() - started < 3
    finally:
        stop(s)


def test_pipelined_requests_are_answered_in_order_and_close_ends_the_connection():
    """HTTP/1.1 keeps a connection open and answers pipelined requests in the order
    they came; a request with `Connection: close` is answered, says so, and the
    server closes at once, without waiting for the idle timeout."""
    s = start(timeout_seconds=None, client_timeout=5)
    body = json.dumps({"expression": "x'*A*x", "wrt": "x"}).encode()
    try:
        with socket.create_connection(s.server_address[:2], timeout=10) as sock:
            sock.sendall(b"GET /api/examples HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                         b"POST /api/diff HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body
                         + b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Connection: close\r\n\r\n")
            started = time.monotonic()
            replies = _replies(_read_until_closed(sock))
        assert time.monotonic() - started < 3  # closed after the last, not after 5 s idle
        assert [json.loads(answer).keys() >= {key} for (_, answer), key in
                zip(replies, ["examples", "text", "ok"], strict=True)] == [True] * 3
        assert json.loads(replies[1][1])["text"] == "(A + A')*x"
        assert b"\r\nConnection: close" in replies[2][0]
        assert all(b"Connection: close" not in head for head, _ in replies[:2])
    finally:
        stop(s)


@pytest.mark.parametrize("sent, part", [
    (b"GET /api/hea", "request line"),
    (b"GET /api/health HTTP/1.1\r\nHo", "head"),
    (b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", "head"),
    (b"POST /api/diff HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
     b"Content-Length: 10\r\n\r\n{\"e", "body"),
], ids=["request line", "half a header", "no blank line", "short body"])
def test_a_request_cut_short_by_a_half_close_gets_a_400_not_a_guess(sent, part):
    """A client that shuts its sending side mid-request can still read: it is told its
    request ended early. Before, half a head was answered as if whole (a 403 for the
    missing Host, a 200 without the blank line), a request line without its end got a
    bare HTTP/0.9 body, and a short body an empty reply."""
    s = start(timeout_seconds=None, client_timeout=5)
    try:
        with socket.create_connection(s.server_address[:2], timeout=10) as sock:
            sock.sendall(sent)
            sock.shutdown(socket.SHUT_WR)
            replies = _replies(_read_until_closed(sock))
        assert len(replies) == 1, replies
        head, body = replies[0]
        assert head.startswith(b"HTTP/1.1 400 ") and b"\r\nConnection: close" in head, head
        message = json.loads(body)["error"]["message"]
        assert part in message and "ended" in message, message
    finally:
        stop(s)
def _shouting(monkeypatch) -> None:
    """A notation added once, to printing.NOTATIONS only (its text in capitals)."""
    from matdiff.printing import NOTATIONS, Notation, TextPrinter

    monkeypatch.setitem(NOTATIONS, "shout", Notation(
        "shout", lambda form: TextPrinter().doprint(form).upper(), "the text, in capitals"))


@pytest.mark.parametrize("wrt", ["x", "x, A"])
def test_the_answer_carries_every_notation_of_the_registry(monkeypatch, wrt):
    """The page's notation cards come from printing.NOTATIONS: each one, the new too, is
    in the answer, printed as the API prints it (and each gradient of several names)."""
    from matdiff.printing import NOTATIONS
    from matdiff.web.compute import answer

    _shouting(monkeypatch)
    status, body = answer({"expression": "x'*A*x", "wrt": wrt, "order": 1,
                           "layout": "numerator"})
    assert status == 200, body
    first = matdiff.diff("x'*A*x", wrt="x")
    assert body["notations"] == [
        {"name": n.name, "summary": n.summary, "printed": first.printed(n.name, "numerator")}
        for n in NOTATIONS.values()]
    assert body["notations"][-1]["printed"] == first.to_text(layout="numerator").upper()
    for entry in body.get("gradients", []):
        d = matdiff.diff("x'*A*x", wrt=entry["wrt"])
        assert [(n["name"], n["printed"]) for n in entry["notations"]] == [
            (name, d.printed(name)) for name in NOTATIONS]
