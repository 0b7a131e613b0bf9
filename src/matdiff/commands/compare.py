"""`matdiff compare ANSWER --of EXPR --wrt x`: is a hand-derived derivative right?

`matdiff compare -f backward.txt --of-file net.txt --wrt W1,b1,W2,b2` checks a
backward pass (lines `dNAME = ...`) line by line against the program in net.txt.
"""

from __future__ import annotations

import argparse
import json

from ..printing.layout import LAYOUTS
from .diff import declarations, read_file

HELP = "check a hand-derived derivative (or a whole backward pass) against matdiff's"


def add_arguments(p: argparse.ArgumentParser) -> None:
    answer = p.add_mutually_exclusive_group(required=True)
    answer.add_argument("answer", nargs="?", default=None,
                        help="your derivative, e.g. \"2*A*x\", or a backward pass: lines "
                             "dNAME = ... separated by ';'")
    answer.add_argument("-f", "--file", metavar="FILE",
                        help="read the answer (an expression, or a backward pass of "
                             "dNAME = ... lines) from FILE ('-' for stdin)")
    of = p.add_mutually_exclusive_group(required=True)
    of.add_argument("--of", metavar="EXPR",
                    help="the expression (or program) it is the derivative of, e.g. "
                         "\"x'*A*x\"")
    of.add_argument("--of-file", metavar="FILE",
                    help="read the expression or program from FILE ('-' for stdin)")
    p.add_argument("--wrt", required=True, action="append",
                   help="the variable it is taken with respect to; for a backward pass "
                        "the inputs whose gradients it must give: --wrt W1,b1,W2,b2")
    p.add_argument("--declare", action="append", metavar="NAME=TYPE",
                   help='a declaration such as A="symmetric matrix" (repeatable)')
    p.add_argument("--order", type=int, default=1, help="2 to check a Hessian")
    p.add_argument("--layout", default="shape", choices=list(LAYOUTS),
                   help="the convention the answer is written in: "
                        + "; ".join(f"{name}: {what}" for name, what in LAYOUTS.items()))
    p.add_argument("--json", action="store_true", help="print a machine-readable record")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the answer is right, 1 when it is not (2 for bad input)."""
    from ..gradients import wrt_names
    from ..passcheck import compare, is_backward_pass

    answer = args.answer if args.file is None else read_file(args.file)
    of = args.of if args.of_file is None else read_file(args.of_file)
    names = wrt_names(args.wrt)
    wrt = names if (len(names) > 1 or is_backward_pass(answer)) else names[0]
    result = compare(answer, of=of, wrt=wrt, declare=declarations(args.declare),
                     order=args.order, layout=args.layout)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result)
    return 0 if result.equal else 1
