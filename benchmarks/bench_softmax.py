"""Structured Jacobians of row-wise maps: softmax(X, 2) of a 1,000 x 100 matrix (issue 9).

    PYTHONPATH=src python benchmarks/bench_softmax.py            # measure, print
    PYTHONPATH=src python benchmarks/bench_softmax.py --quick    # fewer rounds
    PYTHONPATH=src python benchmarks/bench_softmax.py --write    # and into benchmarks/README.md

Side by side in one run (harness.measure: every candidate in each round, in a
random order; each ratio the median over rounds of the two times taken in the
same round), one thread:

* `J = d.compile(structured=True)(X=X)`, the block-diagonal Jacobian (a
  BlockDiagonal holding softmax(X, 2)), against a careful hand-written NumPy
  softmax (target: within 1.5x);
* a vector-Jacobian product `U @ J(X)` (Jacobian computed in the call)
  against the hand-written `s .* (U - sum(U .* s, 2))`, and the same for a
  Jacobian-vector product `J(X) @ V`;
* `U @ J` with J already computed, against the hand-written product given s;
* the same for logsoftmax(X, 2).

Dense, this Jacobian would hold 10^10 numbers (80 GB); its blocks 10^7.

The allocator: on this machine (a sandboxed VM) a page fault costs microseconds,
and glibc gives freed 800 KB arrays back to the kernel (heap trimming) whenever
two are alive at once, so a call allocating two of them took 2.1 ms against
0.03 ms for one: the count of simultaneous temporaries, not the arithmetic,
decided the ratios, and in either direction from run to run. By default the
process keeps freed memory (mallopt: no trimming, no mmap below 64 MB), as a
long-running program's allocator settles to; `--default-malloc` measures
with glibc's defaults.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from threads import configure_threads, limit_loaded  # noqa: E402

configure_threads(1)

import numpy as np  # noqa: E402
from harness import machine, measure, paired_ratio  # noqa: E402
from report import write_readme  # noqa: E402

import matdiff  # noqa: E402

README = Path(__file__).resolve().parent / "README.md"
N, Q = 1000, 100
TARGET = 1.5


def softmax(X: np.ndarray) -> np.ndarray:
    """The hand-written row-wise softmax: shifted by the row maximum, in place where it can."""
    e = X - X.max(axis=1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e


def softmax_vjp(s: np.ndarray, U: np.ndarray) -> np.ndarray:
    """U @ J for J the Jacobian of the row-wise softmax with values s: s .* (U - <U, s>_row)."""
    return s * (U - np.einsum("ij,ij->i", U, s)[:, None])


def logsoftmax_vjp(s: np.ndarray, U: np.ndarray) -> np.ndarray:
    """U @ J for logsoftmax: U - s .* rowsum(U)."""
    return U - s * U.sum(axis=1, keepdims=True)


def logsoftmax_jvp(s: np.ndarray, V: np.ndarray) -> np.ndarray:
    """J @ V for logsoftmax: V - <s, V>_row."""
    return V - np.einsum("ij,ij->i", s, V)[:, None]


def candidates() -> tuple[dict, list[tuple[str, str, str]]]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, Q))
    U, V = rng.standard_normal((N, Q)), rng.standard_normal((N, Q))
    decl = {"X": f"matrix({N}, {Q})"}
    J = matdiff.diff("softmax(X, 2)", wrt="X", declare=decl).compile(structured=True)
    L = matdiff.diff("logsoftmax(X, 2)", wrt="X", declare=decl).compile(structured=True)
    s = softmax(X)
    J0 = J(X=X)
    assert type(J0).__name__ == "BlockDiagonal", type(J0)
    assert np.allclose(U @ J0, softmax_vjp(s, U), rtol=1e-12, atol=1e-15)
    assert np.allclose(J0 @ V, softmax_vjp(s, V), rtol=1e-12, atol=1e-15)  # J is symmetric
    assert np.allclose(U @ L(X=X), logsoftmax_vjp(s, U), rtol=1e-12, atol=1e-15)
    assert np.allclose(L(X=X) @ V, logsoftmax_jvp(s, V), rtol=1e-12, atol=1e-15)
    cands = {
        "hand softmax": lambda: softmax(X),
        "J = compiled structured Jacobian": lambda: J(X=X),
        "hand VJP (softmax, then product)": lambda: softmax_vjp(softmax(X), U),
        "U @ J(X)": lambda: U @ J(X=X),
        "hand JVP (softmax, then product)": lambda: softmax_vjp(softmax(X), V),
        "J(X) @ V": lambda: J(X=X) @ V,
        "hand product, s given": lambda: softmax_vjp(s, U),
        "U @ J, J given": lambda: U @ J0,
        "hand logsoftmax VJP": lambda: logsoftmax_vjp(softmax(X), U),
        "U @ Jlog(X)": lambda: U @ L(X=X),
    }
    pairs = [("structured Jacobian of softmax(X, 2) vs the softmax itself",
              "J = compiled structured Jacobian", "hand softmax"),
             ("VJP U @ J(X) vs hand-written (both from X)", "U @ J(X)",
              "hand VJP (softmax, then product)"),
             ("JVP J(X) @ V vs hand-written (both from X)", "J(X) @ V",
              "hand JVP (softmax, then product)"),
             ("VJP alone: U @ J vs hand-written given s", "U @ J, J given",
              "hand product, s given"),
             ("logsoftmax(X, 2): VJP U @ J(X) vs hand-written", "U @ Jlog(X)",
              "hand logsoftmax VJP")]
    return cands, pairs


def keep_freed_memory() -> bool:
    """glibc: never trim the heap, never mmap below 64 MB (freed arrays are reused)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_trim_threshold, 2**30) and
                libc.mallopt(m_mmap_threshold, 2**26))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--default-malloc", action="store_true")
    args = ap.parse_args(argv)
    kept = False if args.default_malloc else keep_freed_memory()
    warnings.simplefilter("ignore", matdiff.MatdiffWarning)
    limit_loaded(1)
    info = machine(1)
    cands, pairs = candidates()
    res = measure(cands, budget=5 if args.quick else 30, min_rounds=5 if args.quick else 15,
                  max_rounds=60 if args.quick else 400)
    rows = ["| measure | matdiff ms | hand ms | matdiff / hand (paired) | target |",
            "|---|---:|---:|---:|---|"]
    for title, ours, hand in pairs:
        ratio = paired_ratio(res[ours], res[hand])
        target = "" if "softmax itself" not in title else (
            f"<= {TARGET}: {'met' if ratio <= TARGET else 'missed'}")
        rows.append(f"| {title} | {1e3 * res[ours]['median']:.3f} | "
                    f"{1e3 * res[hand]['median']:.3f} | {ratio:.2f} | {target} |")
    rounds = min(r["samples"] for r in res.values())
    text = (f"X {N} x {Q}, float64, one thread; medians per call, {rounds}+ rounds "
            f"({'--quick' if args.quick else 'full'} run); allocator: "
            f"{'freed memory kept (mallopt)' if kept else 'glibc defaults'}.\n\n" +
            "\n".join(rows) + "\n\n" +
            "\n".join(f"- {k}: {v}" for k, v in info.items()))
    print(text)
    if args.write:
        write_readme(README, "softmax-default-malloc" if args.default_malloc else "softmax",
                     text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
