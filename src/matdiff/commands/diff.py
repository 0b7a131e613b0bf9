"""`matdiff diff EXPR --wrt x`: print a derivative (text, LaTeX, JSON, steps, a check)."""

from __future__ import annotations

import argparse
import json

from ..errors import MatdiffError

HELP = "differentiate an expression"


def parse_declarations(items: list[str] | None) -> dict[str, str]:
    """`--declare A="symmetric matrix"` items into a dict."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, kind = item.partition("=")
        if not sep or not name.strip():
            raise MatdiffError("--declare takes NAME=TYPE, as in A=\"symmetric matrix\"; "
                               f"got {item!r}")
        out[name.strip()] = kind.strip()
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("expression", help="the expression, e.g. \"x'*A*x\"")
    p.add_argument("--wrt", required=True, action="append",
                   help="the variable to differentiate with respect to (once)")
    p.add_argument("--declare", action="append", metavar="NAME=TYPE",
                   help='a declaration such as A="symmetric matrix" (repeatable)')
    p.add_argument("--order", type=int, default=1,
                   help="1 for gradients and Jacobians, 2 for Hessians")
    p.add_argument("--layout", default="shape", choices=["shape", "numerator", "denominator"],
                   help="how to print: the result's shape (default), or a layout convention")
    p.add_argument("--latex", action="store_true", help="print LaTeX")
    p.add_argument("--steps", action="store_true", help="explain the derivation step by step")
    p.add_argument("--check", action="store_true", help="compare with finite differences")
    p.add_argument("--json", action="store_true", help="print a machine-readable record")


def run(args: argparse.Namespace) -> int:
    from ..api import diff

    if len(args.wrt) != 1:
        raise MatdiffError(f"--wrt was given {len(args.wrt)} times ({', '.join(args.wrt)}): "
                           "diff takes one variable; run it once per variable")
    d = diff(args.expression, wrt=args.wrt[0], declare=parse_declarations(args.declare),
             order=args.order)
    if args.json:
        record = d.to_dict()
        if args.check:
            record["check_max_relative_error"] = d.check()
        if args.steps:
            record["steps"] = d.explain(format="text")
        print(json.dumps(record, indent=2))
        return 0
    if args.steps:
        print(d.explain(format="latex" if args.latex else "text"))
    elif args.latex:
        print(d.latex(layout=args.layout))
    else:
        print(d.to_text(layout=args.layout))
    if args.check:
        print(f"finite-difference check: max relative error {d.check():.2e}")
    return 0
