"""How long derivation and compilation take: P1-P7, and growth with expression size.

    python benchmarks/compile_time.py            # P1-P7 and sizes 10 .. 10,000 nodes
    python benchmarks/compile_time.py --quick    # sizes up to 1,000 nodes
    python benchmarks/compile_time.py --write    # also write the tables into README.md

"derive" is `matdiff.diff` from text (parse, differentiate, simplify);
"compile" is `d.compile().specialize(shapes)`: distribution, lowering,
contraction planning for those shapes, rendering and `exec`, i.e. all the
work before the first call computes. Each sample starts cold: the code
generator's caches are cleared and the previous result dropped.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from threads import configure_threads  # noqa: E402

configure_threads(1)

from problems import cases  # noqa: E402
from report import write_readme  # noqa: E402


def _clear_caches() -> None:
    from matdiff.codegen.contract import plan_path
    from matdiff.codegen.tidy import tidy
    from matdiff.codegen.values import is_atomic

    for f in (plan_path, tidy, is_atomic):
        f.cache_clear()
    gc.collect()


def time_once(expression: str, wrt: str, order: int, declare: dict | None,
              shapes: dict[str, tuple[int, ...]]) -> tuple[float, float, int, int]:
    """(derive seconds, compile seconds, nodes in f, nodes in the derivative)."""
    import matdiff
    from matdiff.ir.expr import topo_order

    _clear_caches()
    t0 = time.perf_counter()
    d = matdiff.diff(expression, wrt=wrt, declare=declare or None, order=order)
    t1 = time.perf_counter()
    d.compile().specialize(**shapes)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(topo_order(d.function.ir)), len(topo_order(d.ir))


def problems_table(repeat: int) -> str:
    import numpy as np

    lines = ["| problem | derivative | nodes (f / derivative) | derive ms | compile ms | "
             "total ms | target < 20 ms |", "|---|---|---|---|---|---|---|"]
    seen = set()
    for case in cases():
        key = (case.problem, case.kind)
        if key in seen:
            continue
        seen.add(key)
        order = 2 if case.kind == "hessian" else 1
        shapes = {k: np.shape(v) for k, v in case.data(np.random.default_rng(0)).items()}
        samples = [time_once(case.expression, w, order, case.declare, shapes)
                   for _ in range(repeat) for w in case.wrt]
        per = len(case.wrt)
        derive = statistics.median(sum(s[0] for s in samples[k:k + per])
                                   for k in range(0, len(samples), per))
        comp = statistics.median(sum(s[1] for s in samples[k:k + per])
                                 for k in range(0, len(samples), per))
        total = derive + comp
        lines.append(f"| {case.problem} | {case.kind} in {', '.join(case.wrt)} | "
                     f"{samples[0][2]} / {samples[0][3]} | {derive * 1e3:.1f} | "
                     f"{comp * 1e3:.1f} | {total * 1e3:.1f} | "
                     f"{'met' if total < 0.02 else 'missed'} |")
    return "\n".join(lines)


def _sum_family(k: int) -> str:
    """k distinct terms side by side: a wide expression."""
    return " + ".join(f"sum(tanh(A*x + {0.001 * (i + 1):g}))" for i in range(k))


def _chain_family(k: int) -> str:
    """A layer applied k times: a deep expression (the parser nests 200 brackets at most)."""
    text = "x"
    for i in range(k):
        text = f"tanh(A*{text} + {0.01 * (i + 1):g})"
    return f"sum({text})"


def scaling_table(wide: list[int], deep: list[int], repeat: int) -> str:
    lines = ["| family | terms | nodes (f / derivative) | derive ms | compile ms | "
             "derive µs per node | compile µs per node |", "|---|---|---|---|---|---|---|"]
    shapes = {"A": (8, 8), "x": (8,)}
    for name, family, sizes in (("wide", _sum_family, wide), ("deep", _chain_family, deep)):
        for k in sizes:
            text = family(k)
            runs = [time_once(text, "x", 1, None, shapes) for _ in range(repeat)]
            derive = statistics.median(r[0] for r in runs)
            comp = statistics.median(r[1] for r in runs)
            nodes, dnodes = runs[0][2], runs[0][3]
            lines.append(f"| {name} | {k} | {nodes} / {dnodes} | {derive * 1e3:.1f} | "
                         f"{comp * 1e3:.1f} | {derive / nodes * 1e6:.0f} | "
                         f"{comp / max(dnodes, 1) * 1e6:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="sizes up to 1,000 nodes")
    p.add_argument("--write", action="store_true", help="write the tables into README.md")
    args = p.parse_args(argv)
    import matdiff

    matdiff.diff("x'*A*x", wrt="x").compile().specialize(x=(2,), A=(2, 2))  # imports, warm-up
    first = problems_table(repeat=3 if args.quick else 9)
    wide = [2, 25, 250] if args.quick else [2, 25, 250, 2500]
    deep = [2, 25] if args.quick else [2, 25, 75, 150]
    second = scaling_table(wide, deep, repeat=1 if args.quick else 3)
    text = (f"{time.strftime('%Y-%m-%d')}, one thread; medians, each sample cold "
            "(code generator caches cleared).\n\n" + first + "\n\nGrowth with expression size "
            "(A 8x8, x of length 8):\n\n" + second)
    print(text)
    if args.write:
        write_readme(HERE / "README.md", "compile", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
