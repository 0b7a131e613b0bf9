"""First-call compile time against network depth: sum(tanh(Wk*...tanh(W1*x))) wrt W1.

    python benchmarks/compile_depth.py              # k = 2, 4, 8, 16, 32, 64
    python benchmarks/compile_depth.py --max 16     # a quicker run

The derivative with respect to the first layer chains k Jacobians, so its
products have about 2k operands. Planning their contraction order with an
exhaustive (dp) search takes time exponential in the operands (0.6 s at
k = 14, 13.5 s at k = 15, over 100 s at k = 20 before the planner was
bounded); matdiff plans products of more than 8 operands greedily. "compile"
is `d.compile().specialize(shapes)` from cold caches: distribution,
lowering, contraction planning, rendering and `exec`; "per layer" divides
it by k, which stays roughly flat when growth is linear.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from threads import configure_threads  # noqa: E402

configure_threads(1)


def deep_network(k: int) -> tuple[str, dict[str, str]]:
    text = "x"
    for i in range(1, k + 1):
        text = f"tanh(W{i}*{text})"
    declare = {f"W{i}": "matrix(n, n)" for i in range(1, k + 1)}
    declare["x"] = "vector(n)"
    return f"sum({text})", declare


def time_depth(k: int, n: int = 16, repeat: int = 3) -> tuple[float, float]:
    """(derive seconds, compile seconds), medians over cold runs."""
    from compile_time import _clear_caches

    import matdiff

    text, declare = deep_network(k)
    shapes = {f"W{i}": (n, n) for i in range(1, k + 1)} | {"x": (n,)}
    derive, comp = [], []
    for _ in range(repeat):
        _clear_caches()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = matdiff.diff(text, wrt="W1", declare=declare)
        t1 = time.perf_counter()
        d.compile().specialize(**shapes)
        t2 = time.perf_counter()
        derive.append(t1 - t0)
        comp.append(t2 - t1)
    return statistics.median(derive), statistics.median(comp)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max", type=int, default=64, help="the deepest network (default 64)")
    p.add_argument("--repeat", type=int, default=3, help="cold runs per depth (median)")
    args = p.parse_args(argv)
    time_depth(2, repeat=1)  # imports and first-use costs out of the table
    print("| depth k | derive ms | compile ms | compile ms per layer |")
    print("|---|---|---|---|")
    k = 2
    while k <= args.max:
        derive, comp = time_depth(k, repeat=args.repeat)
        print(f"| {k} | {derive * 1e3:.0f} | {comp * 1e3:.0f} | {comp * 1e3 / k:.1f} |",
              flush=True)
        k *= 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
