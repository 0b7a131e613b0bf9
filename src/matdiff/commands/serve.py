"""`matdiff serve`: the local web page for derivatives (see docs/web.md)."""

from __future__ import annotations

import argparse

from ..errors import MatdiffError

HELP = "a local web page for derivatives"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765,
                   help="the port (default 8765; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true",
                   help="do not open the page in a browser")
    p.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                   help="stop a derivative that takes longer (default 20; 0 for no limit)")


def run(args: argparse.Namespace) -> int:
    from ..web.server import serve

    if not 0 <= args.port <= 65535:
        raise MatdiffError(f"--port must be between 0 and 65535, not {args.port}")
    if args.timeout < 0:
        raise MatdiffError(f"--timeout must be 0 (no limit) or more, not {args.timeout:g}")
    try:
        serve(host=args.host, port=args.port, open_browser=not args.no_browser,
              timeout_seconds=args.timeout or None)
    except OSError as e:  # the port is taken, or the address is not this machine's
        raise MatdiffError(f"cannot listen on {args.host}:{args.port}: "
                           f"{e.strerror or e}; try another --port") from e
    return 0
