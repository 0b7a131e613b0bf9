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
import socket
import struct
import subprocess
import sys
import threading
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


def test_time_limit_stops_a_worker_and_the_next_request_is_answered():
    s = start(timeout_seconds=0.02, workers=1)  # shorter than a worker's start-up imports
    try:
        status, body = post(s, {"expression": "x'*A*x", "wrt": "x"})
        assert status == 503 and body["error"]["kind"] == "Timeout"
        s.timeout_seconds = 30.0
        status, body = post(s, {"expression": "x'*A*x", "wrt": "x"})
        assert status == 200 and body["text"] == "(A + A')*x"
        status, body = post(s, {"expression": "x +", "wrt": "x"})
        assert status == 400 and body["error"]["line"] == 1
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
