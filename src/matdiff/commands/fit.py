"""`matdiff fit LOSS --data PATH --param w=zeros ...`: train a loss's parameters on data.

Prints progress and the final loss, saves the trained parameters as .npz
(and the loss curve as PNG with --plot). When the loss diverges (becomes
non-finite or grows a million-fold), the best parameters seen are still
saved before the error is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import MatdiffError
from .diff import add_source_arguments, declarations, read_source

HELP = "train parameters of a loss on data"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p, "loss", "\"mean((y - max(0, X*w + b)).^2)\"", "loss")
    p.add_argument("--data", metavar="PATH", help="an .npz (arrays by name) or a .csv with a "
                   "header: columns named like vectors, X[0]/X_0 columns of a matrix, and "
                   "the rest filling the one matrix left; or, for data larger than memory, "
                   "a Zarr store or a folder of .npy files (trained chunk by chunk on Dask)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="a Dask scheduler for Zarr/.npy-folder data, such as "
                   "tcp://10.0.0.5:8786 (default: a local cluster)")
    p.add_argument("--no-worker-timeout", type=float, metavar="SECONDS", default=None,
                   help="on Dask data, how long the fit waits while the cluster has no "
                   "worker at all before it stops with an error (default: 60)")
    p.add_argument("--param", action="append", metavar="NAME=INIT", required=True,
                   help="a parameter to train and its initial value: a number, zeros, ones, "
                   "normal, uniform, glorot, he (optionally with a shape, he:64x32), or an "
                   ".npy file (repeatable)")
    p.add_argument("--const", action="append", metavar="NAME=NUMBER",
                   help="a scalar of the loss held fixed, such as lam=0.01 (repeatable)")
    p.add_argument("--declare", action="append", metavar="NAME=TYPE",
                   help='a declaration such as b="scalar" (repeatable)')
    p.add_argument("--optimizer", default="adam", help="sgd, momentum, adam or lbfgs")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: the optimizer's paper default)")
    p.add_argument("--epochs", type=int, default=100, help="passes over the data")
    p.add_argument("--batch-size", type=int, default=None,
                   help="minibatch size (default: the whole data each step)")
    p.add_argument("--momentum", type=float, default=None, help="momentum coefficient")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="another optimizer option, such as beta2=0.99 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for shuffling and initialisers")
    p.add_argument("--out", default="params.npz", help="where to save the trained parameters "
                   "(default: params.npz; '-' to not save)")
    p.add_argument("--plot", metavar="PNG", help="write the loss curve (needs matplotlib)")
    p.add_argument("--every", type=int, default=None,
                   help="print the loss every N epochs (default: about ten lines)")
    p.add_argument("--quiet", action="store_true", help="print only the final loss")
    p.add_argument("--json", action="store_true", help="print a machine-readable record")


def _pairs(items: list[str] | None, flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise MatdiffError(f"{flag} takes NAME=VALUE, got {item!r}")
        out.append((name.strip(), value.strip()))
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MatdiffError(f"{what} must be a number, not {text!r}") from None


def _option_value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return _number(text, "an --option value")


def _initial(value: str) -> Any:
    import numpy as np

    if value.lower().endswith(".npy"):
        try:
            return np.load(value, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise MatdiffError(f"cannot read {value!r}: {e}") from None
    return value  # a number or an initialiser name: fit reads both


def _summary(value: Any) -> str:
    import numpy as np

    arr = np.asarray(value)
    if arr.size <= 8:
        return np.array2string(arr, precision=5, suppress_small=True)
    return f"{' x '.join(map(str, arr.shape))} array (norm {np.linalg.norm(arr):.5g})"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..api import parse_text
    from ..optim import TrainingDiverged, fit, load_data

    declare = declarations(args.declare)
    consts = _pairs(args.const, "--const")
    for name, _ in consts:  # a --const is a number: a scalar whatever its first letter
        declare.setdefault(name, "scalar")
    params = {name: _initial(value) for name, value in _pairs(args.param, "--param")}
    text = read_source(args)
    expr = parse_text(text, declare, 3, args.of, goal="scalar")  # a loss: a scalar
    wanted = [v for v in expr.variables if v not in params]
    data: dict[str, Any] = {}
    if args.data:
        data.update(load_data(args.data, expr.variables, wanted))
    for name, value in consts:
        data[name] = _number(value, f"--const {name}")
    hyper: dict[str, Any] = {k: _option_value(v) for k, v in _pairs(args.option, "--option")}
    if args.momentum is not None:
        hyper["momentum"] = args.momentum
    if args.nesterov:
        hyper["nesterov"] = True
    every = args.every or max(1, args.epochs // 10)
    on_terminal = sys.stderr.isatty() and args.every is None
    talk = not args.quiet and not args.json

    def report(epoch: int, loss: float, _params: dict) -> None:
        if talk and not on_terminal and (epoch % every == 0 or epoch == 1):
            print(f"epoch {epoch:>6}  loss {loss:.6g}", flush=True)

    try:
        result = fit(expr, params, data, declare=declare, optimizer=args.optimizer,
                     lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                     seed=args.seed, callback=report, progress=talk and on_terminal,
                     client=args.scheduler, no_worker_timeout=args.no_worker_timeout,
                     **hyper)
    except TrainingDiverged as e:
        if args.out != "-":
            np.savez(args.out, **e.result.params)
            print(f"saved the best parameters seen to {args.out}", file=sys.stderr)
        raise
    if args.out != "-":
        np.savez(args.out, **result.params)
    if args.plot:
        result.plot(args.plot, title=f"matdiff fit: {' '.join(text.split())}"[:80])
    if args.json:
        record = {"loss": text, **result.summary(), "history": result.history,
                  "params": {k: v.tolist() for k, v in result.params.items()},
                  "out": None if args.out == "-" else args.out, "plot": args.plot}
        print(json.dumps(record, indent=2))
        return 0
    start = f" (epoch 1: {result.history[0]:.6g})" if result.history else ""
    print(f"final loss {result.loss:.6g}{start} after {result.epochs} epochs "
          f"({result.optimizer}, {result.backend} gradients, {result.seconds:.2f} s)")
    if not args.quiet:
        print(f"  {result.message}; {result.gradient_evaluations} gradient evaluations, "
              f"{result.data_passes:.3g} passes over the data, "
              f"{result.rows_per_second:,.0f} rows/s")
    if not args.quiet:
        for name, value in result.params.items():
            print(f"  {name} = {_summary(value)}")
        if args.out != "-":
            print(f"saved parameters to {args.out}")
        if args.plot:
            print(f"wrote the loss curve to {args.plot}")
    return 0
