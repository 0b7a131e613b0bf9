"""Derivation time of every seed-note expression, and the command line's cold start.

    python benchmarks/bench_derive.py [--repeat 20] [--strict]

Targets (engine issue): deriving any seed-note expression in under 10 ms
(the median of repeated derivations in one process, after the grammar is
built), and `matdiff diff` answering from a cold start in under 0.5 s (the
median wall time of a fresh process). The first derivation of each
expression is shown too, since a one-off user pays it. With --strict the
exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time

DERIVE_TARGET = 0.010
COLD_TARGET = 0.5

S = {"z": "scalar", "b": "scalar"}

# (expression, wrt, order): the derivations of the seed notes
SEED_EXPRESSIONS = [
    ("W*x", "x", 1),
    ("tanh(W*x)", "x", 1),
    ("w + x", "w", 1),
    ("w + x", "x", 1),
    ("w - x", "w", 1),
    ("w - x", "x", 1),
    ("w .* x", "w", 1),
    ("w \u2297 x", "x", 1),
    ("w ./ x", "w", 1),
    ("w \u2298 x", "x", 1),
    ("x + z", "x", 1),
    ("x + z", "z", 1),
    ("x * z", "x", 1),
    ("x * z", "z", 1),
    ("sum(x)", "x", 1),
    ("sum(x * z)", "x", 1),
    ("sum(x * z)", "z", 1),
    ("sin(a^2)", "a", 1),
    ("a * sin(a) * exp(a)", "a", 1),
    ("V*tanh(W*x)", "x", 1),
    ("sin(x .^ 2)", "x", 1),
    ("w \u00b7 x", "w", 1),
    ("max(0, x)", "x", 1),
    ("max(0, w'*x + b)", "w", 1),
    ("max(0, w'*x + b)", "b", 1),
    ("max(0, w \u00b7 x + b)", "w", 1),
    ("mean((y - max(0, X*w + b)).^2)", "w", 1),
    ("mean((y - max(0, X*w + b)).^2)", "b", 1),
    ("mean((y - max(0, X*w + b)).^2)", "w", 2),
]


def _declare(text: str) -> dict[str, str]:
    """The scalar declarations of the variables that occur in `text`."""
    return {k: v for k, v in S.items() if re.search(rf"\b{k}\b", text)}


def time_derivations(repeat: int) -> list[tuple[str, float, float]]:
    import matdiff

    matdiff.diff("x'*A*x", wrt="x")  # build the grammar and load the stages once
    rows = []
    for text, wrt, order in SEED_EXPRESSIONS:
        declare = _declare(text)
        start = time.perf_counter()
        matdiff.diff(text, wrt=wrt, declare=declare, order=order)
        first = time.perf_counter() - start
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            matdiff.diff(text, wrt=wrt, declare=declare, order=order)
            times.append(time.perf_counter() - start)
        label = f"d{'^2' if order == 2 else ''}({text})/d{wrt}{'^2' if order == 2 else ''}"
        rows.append((label, first, statistics.median(times)))
    return rows


def time_cold_start(repeat: int) -> list[tuple[str, float]]:
    exe = shutil.which("matdiff")
    # the installed console script, or the same entry point through python
    prefix = [exe] if exe else [sys.executable, "-c",
                                "import sys; from matdiff.cli import main; sys.exit(main())"]
    commands = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("python -c 'import matdiff'", [sys.executable, "-c", "import matdiff"]),
        ("matdiff diff \"x'*A*x\" --wrt x", prefix + ["diff", "x'*A*x", "--wrt", "x"]),
        ("matdiff diff <loss> --wrt w --order 2",
         prefix + ["diff", "mean((y - max(0, X*w + b)).^2)", "--wrt", "w",
                   "--declare", "b=scalar", "--order", "2"]),
    ]
    rows = []
    for label, cmd in commands:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"{label} failed: {done.stderr}")
        rows.append((label, statistics.median(times)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed derivations per expression")
    parser.add_argument("--cold", type=int, default=5, help="cold starts per command")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    missed = 0
    derive = time_derivations(args.repeat)
    width = max(len(label) for label, _, _ in derive)
    print(f"{'derivation':<{width}}  {'first ms':>9}  {'median ms':>9}  "
          f"target {DERIVE_TARGET * 1e3:.0f} ms")
    for label, first, median in derive:
        ok = median < DERIVE_TARGET
        missed += not ok
        print(f"{label:<{width}}  {first*1e3:9.2f}  {median*1e3:9.2f}  {'ok' if ok else 'MISSED'}")
    worst = max(derive, key=lambda r: r[2])
    print(f"worst median: {worst[2]*1e3:.2f} ms ({worst[0]}); "
          f"worst first call: {max(r[1] for r in derive)*1e3:.2f} ms")
    print()
    cold = time_cold_start(args.cold)
    width = max(len(label) for label, _ in cold)
    print(f"{'cold start':<{width}}  {'median s':>9}  target {COLD_TARGET} s")
    for label, median in cold:
        targeted = label.startswith("matdiff diff \"x'")
        ok = median < COLD_TARGET or not targeted
        missed += not ok
        print(f"{label:<{width}}  {median:9.3f}  {('ok' if ok else 'MISSED') if targeted else ''}")
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
