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
    p.add_argument("--workers", type=int, default=3, metavar="N",
                   help="worker processes (default 3: up to N-1 long derivatives at once, "
                        "and always one worker for short ones)")
    p.add_argument("--memory", type=int, default=1024, metavar="MB",
                   help="address space of each worker in MB (default 1024; 0 for no limit); "
                        "sizes whose check needs more are refused before computing")
    p.add_argument("--client-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="time a client has to send a request, or to leave a connection "
                        "idle (default 10)")


def run(args: argparse.Namespace) -> int:
    from ..web.server import serve

    if not 0 <= args.port <= 65535:
        raise MatdiffError(f"--port must be between 0 and 65535, not {args.port}")
    if args.timeout < 0:
        raise MatdiffError(f"--timeout must be 0 (no limit) or more, not {args.timeout:g}")
    if args.workers < 1:
        raise MatdiffError(f"--workers must be 1 or more, not {args.workers}")
    if args.memory != 0 and args.memory < 256:
        raise MatdiffError(f"--memory must be 0 (no limit) or at least 256 MB, not {args.memory}")
    if args.client_timeout <= 0:
        raise MatdiffError(f"--client-timeout must be more than 0, not {args.client_timeout:g}")
    try:
        serve(host=args.host, port=args.port, open_browser=not args.no_browser,
              timeout_seconds=args.timeout or None, workers=args.workers,
              memory_mb=args.memory, client_timeout=args.client_timeout)
    except OSError as e:  # the port is taken, or the address is not this machine's
        raise MatdiffError(f"cannot listen on {args.host}:{args.port}: "
                           f"{e.strerror or e}; try another --port") from e
    return 0
