"""`matdiff compare ANSWER --of EXPR --wrt x`: is a hand-derived derivative right?"""

from __future__ import annotations

import argparse
import json

from ..printing.layout import LAYOUTS
from .diff import declarations

HELP = "check a hand-derived derivative against matdiff's"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("answer", help="your derivative, e.g. \"2*A*x\"")
    p.add_argument("--of", required=True, metavar="EXPR",
                   help="the expression it is the derivative of, e.g. \"x'*A*x\"")
    p.add_argument("--wrt", required=True, help="the variable it is taken with respect to")
    p.add_argument("--declare", action="append", metavar="NAME=TYPE",
                   help='a declaration such as A="symmetric matrix" (repeatable)')
    p.add_argument("--order", type=int, default=1, help="2 to check a Hessian")
    p.add_argument("--layout", default="shape", choices=list(LAYOUTS),
                   help="the convention the answer is written in: "
                        + "; ".join(f"{name}: {what}" for name, what in LAYOUTS.items()))
    p.add_argument("--json", action="store_true", help="print a machine-readable record")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the answer is right, 1 when it is not (2 for bad input)."""
    from ..comparison import compare

    result = compare(args.answer, of=args.of, wrt=args.wrt,
                     declare=declarations(args.declare), order=args.order,
                     layout=args.layout)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result)
    return 0 if result.equal else 1
