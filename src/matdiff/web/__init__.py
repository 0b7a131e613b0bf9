"""The local web page (`matdiff serve`): a standard-library server over matdiff's public API.

Outside the core: it imports only `matdiff`'s public names. server.py holds the
HTTP side, compute.py turns one request into JSON, workers.py enforces the time
limit, static/ the page itself (plain HTML, CSS and JavaScript, no build step,
nothing fetched from the network). Mathematics is rendered as MathML by the
optional `latex2mathml` package (the `web` extra), or shown as LaTeX without it.
"""

from __future__ import annotations

__all__ = ["make_server", "serve"]


def make_server(*args, **kwargs):
    """See matdiff.web.server.make_server (imported on first use)."""
    from .server import make_server as _make_server

    return _make_server(*args, **kwargs)


def serve(*args, **kwargs):
    """See matdiff.web.server.serve (imported on first use)."""
    from .server import serve as _serve

    return _serve(*args, **kwargs)
