"""`matdiff codegen EXPR --wrt x`: print the NumPy module that computes a derivative.

    matdiff codegen "norm2(X*w - y)^2" --wrt w
    matdiff codegen "norm2(M - U*V')^2" --wrt U --shape M=2000x2000 --shape U=2000x50
    matdiff codegen "sum(log(1 + exp(-y .* (X*w))))" --wrt w --value-and-grad

Contraction orders depend on the sizes: `--shape NAME=AxB` plans for them
(every other dimension is taken as 1000, and the module says so). The output
is a standalone module: plain NumPy, no import of matdiff, under a comment
naming matdiff's version, this command, the expression and its license.
"""

from __future__ import annotations

import argparse
import shlex

from ..codegen.backends import BACKENDS
from ..errors import MatdiffError
from .diff import declarations

HELP = "print the NumPy code of a derivative"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("expression", help="the expression, e.g. \"x'*A*x\"")
    p.add_argument("--wrt", required=True, action="append",
                   help="the variable to differentiate with respect to "
                   "(repeatable with --value-and-grad)")
    p.add_argument("--declare", action="append", metavar="NAME=TYPE",
                   help='a declaration such as A="symmetric matrix" (repeatable)')
    p.add_argument("--order", type=int, default=1,
                   help="1 for gradients and Jacobians, 2 for Hessians")
    p.add_argument("--shape", action="append", metavar="NAME=AxB",
                   help="plan for this variable's shape, e.g. X=10000x100 (repeatable)")
    p.add_argument("--value-and-grad", action="store_true",
                   help="one function returning the value and every gradient")
    p.add_argument("--backend", default="numpy",
                   choices=list(BACKENDS),
                   help="the array library the code runs on (default: numpy); "
                        + "; ".join(f"{b.name}: {b.summary}" for b in BACKENDS.values()))


def parse_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]]:
    """`--shape X=100x20` items into {"X": (100, 20)}; `--shape b=` is a scalar."""
    out: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = item.partition("=")
        try:
            shape = tuple(int(k) for k in dims.lower().split("x") if k.strip())
        except ValueError:
            shape = None
        if not sep or not name.strip() or shape is None or any(k < 1 for k in shape):
            raise MatdiffError(f"--shape takes NAME=AxB with positive whole numbers, "
                               f"as in X=100x20; got {item!r}")
        out[name.strip()] = shape
    return out


def command_text(args: argparse.Namespace) -> str:
    """The command line that makes this module, for its header (quoted for a POSIX shell)."""
    words = ["matdiff", "codegen", args.expression]
    for name in args.wrt:
        words += ["--wrt", name]
    for item in args.declare or []:
        words += ["--declare", item]
    if args.order != 1:
        words += ["--order", str(args.order)]
    for item in args.shape or []:
        words += ["--shape", item]
    if args.value_and_grad:
        words.append("--value-and-grad")
    if args.backend != "numpy":
        words += ["--backend", args.backend]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from ..api import diff, parse, value_and_grad

    declare = declarations(args.declare)
    shapes = parse_shapes(args.shape)
    made_by = command_text(args)
    if args.value_and_grad:
        if args.order != 1:
            raise MatdiffError("--value-and-grad gives first derivatives: drop --order")
        fn = value_and_grad(parse(args.expression, declare), args.wrt, declare=declare)
        print(fn.source_for(args.backend, shapes, made_by=made_by,
                            how_to_size="--shape NAME=AxB"), end="")
        return 0
    if len(args.wrt) != 1:
        raise MatdiffError("give --wrt once (or use --value-and-grad for several gradients)")
    d = diff(args.expression, wrt=args.wrt[0], declare=declare, order=args.order)
    if shapes:
        unknown = sorted(set(shapes) - set(d.variables))
        if unknown:
            raise MatdiffError(f"--shape names {', '.join(unknown)}, not a variable of the "
                               f"expression (its variables: {', '.join(d.variables)})")
    from ..codegen import derivative_source

    print(derivative_source(d.ir, d.variables, d.wrt, d.order, *d._doc_texts(),
                            shapes=shapes or None, backend=args.backend, made_by=made_by,
                            expression=d.text, how_to_size="--shape NAME=AxB"), end="")
    return 0

