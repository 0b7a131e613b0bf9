"""`matdiff diff EXPR --wrt x`: print a derivative (text, LaTeX, JSON, steps, a check)."""

from __future__ import annotations

import argparse
import json

from ..errors import MatdiffError
from ..printing.layout import LAYOUTS
from ..printing.notations import NOTATIONS

HELP = "differentiate an expression"


def declarations(items: list[str] | None) -> dict[str, str]:
    """`--declare A="symmetric matrix"` items (each NAME=TYPE) into a dict."""
    from ..language import parse_declarations

    try:
        return parse_declarations(", ".join(items or []))
    except MatdiffError as e:
        raise MatdiffError(f"--declare: {e.message}") from None


def read_source(args: argparse.Namespace) -> str:
    """The expression or program: the argument, or the file of -f (`-f -` reads stdin)."""
    text, path = getattr(args, "expression", None), getattr(args, "file", None)
    if (text is None) == (path is None):
        raise MatdiffError("give the expression (or program) as an argument, or a file with -f")
    return text if path is None else read_file(path)


def read_file(path: str) -> str:
    """The text of a file named on the command line (`-` is stdin), or a MatdiffError."""
    import sys

    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as e:
        raise MatdiffError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise MatdiffError(f"{path} is not UTF-8 text") from None


def add_source_arguments(p: argparse.ArgumentParser, name: str = "expression",
                         example: str = "\"x'*A*x\"", role: str = "function") -> None:
    """The text to work on: a positional expression or program, or -f FILE; and --of.

    `name` is what the command calls it (an expression, a loss); it is read back as
    `args.expression` either way (read_source)."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("expression", metavar=name, nargs="?", default=None,
                        help=f"the {name}, e.g. {example}, or a program: assignments one "
                             "per line or separated by ';' (see docs/programs.md)")
    source.add_argument("-f", "--file", metavar="FILE",
                        help=f"read the {name} (an expression or a program) from FILE "
                             "('-' for stdin)")
    p.add_argument("--of", metavar="NAME",
                   help=f"the assignment of the program that is the {role} "
                        "(default: the last)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--wrt", required=True, action="append",
                   help="the variable(s) to differentiate with respect to: --wrt W1,b1 or "
                        "--wrt W1 --wrt b1 (several print the backward pass)")
    p.add_argument("--declare", action="append", metavar="NAME=TYPE",
                   help='a declaration such as A="symmetric matrix" (repeatable)')
    p.add_argument("--order", type=int, default=1,
                   help="1 for gradients and Jacobians, 2 for Hessians")
    p.add_argument("--layout", default="shape", choices=list(LAYOUTS),
                   help="how to print: the result's shape (default), or a layout convention")
    p.add_argument("--notation", default="text", choices=list(NOTATIONS),
                   help="how to print: " + "; ".join(f"{n.name}: {n.summary}"
                                                     for n in NOTATIONS.values()))
    p.add_argument("--latex", action="store_true", help="print LaTeX (--notation latex)")
    p.add_argument("--steps", action="store_true", help="explain the derivation step by step")
    p.add_argument("--check", action="store_true", help="compare with finite differences")
    p.add_argument("--json", action="store_true", help="print a machine-readable record")


def run(args: argparse.Namespace) -> int:
    from ..api import diff, parse
    from ..wrt import wrt_names

    names = wrt_names(args.wrt)
    f = parse(read_source(args), declarations(args.declare), args.of)
    if args.latex:
        args.notation = "latex"
    if len(names) > 1:
        return _several(f, names, args)
    d = diff(f, wrt=names[0], order=args.order)
    if args.json:
        record = d.to_dict()
        if args.check:
            record["check_max_relative_error"] = d.check()
        if args.steps:
            record["steps"] = d.explain(format="text")
        print(json.dumps(record, indent=2))
        return 0
    if args.steps:
        print(d.explain(format="latex" if args.notation != "text" else "text"))
    else:
        print(d.printed(args.notation, layout=args.layout))
    if args.check:
        print(f"finite-difference check: max relative error {d.check():.2e}")
    return 0


def _several(f, names: list[str], args: argparse.Namespace) -> int:
    """Several wrt: the backward pass of a scalar function, else one derivative per name."""
    from ..gradients import Gradients

    grads = Gradients(f, names, order=args.order)
    backward = f.ir.ndim == 0 and args.order == 1
    if args.json:
        record = {"expression": f.text, "wrt": names, "order": args.order,
                  "gradients": [grads[n].to_dict() for n in names]}
        if args.check:
            for entry, n in zip(record["gradients"], names):
                entry["check_max_relative_error"] = grads[n].check()
        if backward:
            record["backward"] = grads.to_text()
            record["backward_latex"] = grads.latex()
            record["backward_names"] = grads.names()
            if args.steps:
                record["steps"] = grads.explain(format="text")
        print(json.dumps(record, indent=2))
        return 0
    if backward:
        if args.steps:
            print(grads.explain(format="latex" if args.notation != "text" else "text"))
        else:
            print(_backward_printed(grads, args.notation))
    else:
        for n in names:
            print(f"d/d{n}: " + grads[n].printed(args.notation, layout=args.layout))
    if args.check:
        for n in names:
            print(f"finite-difference check of d/d{n}: max relative error "
                  f"{grads[n].check():.2e}")
    return 0


def _backward_printed(grads, notation: str) -> str:
    """The backward pass in `notation`: its own text, else made from its LaTeX as the
    notation says (printing.NOTATIONS: of_latex)."""
    if notation == "text":
        return grads.to_text()
    spell = NOTATIONS[notation].of_latex
    if spell is None:
        raise MatdiffError(f"the backward pass has no {notation} printing: it prints as "
                           "text or in a notation made from LaTeX")
    return spell(grads.latex())
