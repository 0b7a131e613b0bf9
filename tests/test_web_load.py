"""`matdiff serve` under load and hostile clients: loopback only, bounded, self-stopping.

Every test here talks to a server on an ephemeral loopback port, sends a
bounded number of requests with timeouts on every socket, and stops the
server itself. Counts and limits are small enough for two busy cores.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from matdiff.web.server import MatdiffServer, make_server

BURST = 400
CONCURRENCY = 200


def start(**options: Any) -> MatdiffServer:
    server = make_server("127.0.0.1", 0, quiet=True, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def server() -> Iterator[MatdiffServer]:
    s = start(timeout_seconds=None)
    yield s
    s.shutdown()
    s.server_close()


def exchange(address: tuple[str, int], i: int) -> int | str:
    """Request number i of a burst: its status, or the name of the error it met."""
    try:
        conn = http.client.HTTPConnection(*address, timeout=30)
        try:
            if i % 4 == 0:
                conn.request("POST", "/api/diff",
                             json.dumps({"expression": "x'*A*x", "wrt": "x"}),
                             {"Content-Type": "application/json"})
            else:
                conn.request("GET", ("/api/health", "/", "/static/app.js")[i % 3])
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()
    except OSError as e:
        return type(e).__name__


def test_a_burst_gets_no_resets_and_no_server_errors(server):
    """400 requests, 200 at once: a listen backlog of 5 reset some 4% of them."""
    address = server.server_address[:2]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = Counter(pool.map(lambda i: exchange(address, i), range(BURST)))
    assert outcomes == Counter({200: BURST}), outcomes
