"""The speed suite P1-P7: matdiff's compiled derivatives against hand-written code and autodiff.

    python benchmarks/run.py                 # the issue's sizes (several minutes)
    python benchmarks/run.py --quick         # small sizes, about a minute
    python benchmarks/run.py --write         # also write the table into benchmarks/README.md
    python benchmarks/run.py --only P2,P5    # some problems

Everything runs in one process, candidates interleaved round by round;
the table reports medians and ratios. Frameworks that are not installed
(`pip install -e '.[bench]'`) are skipped and named.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from threads import configure_threads, limit_loaded  # noqa: E402

# thread counts must be fixed before NumPy, JAX or PyTorch start their thread pools
_THREADS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--threads=")), 1)
configure_threads(_THREADS)

from frameworks import available, build, versions  # noqa: E402
from harness import machine, measure  # noqa: E402
from problems import Case, cases  # noqa: E402
from report import TARGETS, table, write_readme  # noqa: E402


def _matdiff_fn(case: Case, structured: bool = False):
    import matdiff

    if case.kind == "value_and_grad":  # the loss and both gradients, one forward pass
        vg = matdiff.value_and_grad(case.expression, wrt=case.wrt, declare=case.declare or None)
        return lambda v: (lambda r: (r[0], *r[1]))(vg(**v))
    order = 2 if case.kind == "hessian" else 1
    d = matdiff.diff(case.expression, wrt=case.wrt[0], declare=case.declare or None, order=order)
    fn = d.compile(structured=structured)
    return lambda v: fn(**v)


def _check(label: str, got, want) -> None:
    import numpy as np

    def flat(x):
        if isinstance(x, tuple | list):
            return [a for item in x for a in flat(item)]
        return [np.asarray(x)]

    for g, w in zip(flat(got), flat(want), strict=True):
        scale = max(1.0, float(np.abs(w).max()))
        if g.shape != w.shape or not np.allclose(g, w, rtol=1e-6, atol=1e-8 * scale):
            raise SystemExit(f"{label}: result differs from the hand-written closed form")


def run_case(case: Case, frameworks: dict[str, str | None], budget: float, threads: int,
             seed: int = 0) -> dict:
    import numpy as np

    values = case.data(np.random.default_rng(seed))
    hand_args = [values[a] for a in _hand_args(case)]
    want = case.hand(*hand_args)
    cands = {}
    md = _matdiff_fn(case)
    cands["matdiff"] = lambda: md(values)
    cands["hand"] = lambda: case.hand(*hand_args)
    if case.best is not None:
        cands["best"] = lambda: case.best(*hand_args)
    if case.diagonal is not None:
        mds = _matdiff_fn(case, structured=True)
        cands["matdiff structured"] = lambda: mds(values)
        cands["hand diagonal"] = lambda: case.diagonal(*hand_args)
    skipped = {}
    for fw, reason in frameworks.items():
        if reason is not None:
            skipped[fw] = reason
            continue
        try:
            cands[fw] = build(fw, case, values, threads)
        except Exception as e:  # noqa: BLE001 - a baseline that cannot run is reported
            skipped[fw] = f"{type(e).__name__}: {e}"
    for label, fn in cands.items():
        got = fn()
        if label == "hand diagonal":
            got = np.diag(got)
        _check(f"{case.id} / {label}", np.asarray(got) if label == "matdiff structured" else got,
               want)
    t0 = time.perf_counter()
    timing = measure(cands, budget, last=frozenset(frameworks))
    return {"case": case.id, "problem": case.problem, "kind": case.kind,
            "timing": timing, "skipped": skipped, "seconds": time.perf_counter() - t0}


def _hand_args(case: Case) -> list[str]:
    import inspect

    return list(inspect.signature(case.hand).parameters)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--write", action="store_true", help="write the table into README.md")
    p.add_argument("--only", default="", help="comma-separated problems, e.g. P1,P5")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS and framework threads (give it as --threads=N)")
    p.add_argument("--budget", type=float, default=None, help="seconds of sampling per case")
    p.add_argument("--no-frameworks", action="store_true", help="matdiff and hand code only")
    p.add_argument("--json", metavar="FILE", help="also save the raw results")
    p.add_argument("--from-json", metavar="FILE", help="only print (and --write) saved results")
    args = p.parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        text = table(saved["results"], saved["machine"], quick=saved.get("quick", False))
        print(text)
        if args.write:
            write_readme(HERE / "README.md", "speed", text)
        return 0

    if args.threads != _THREADS:
        raise SystemExit("give the thread count as --threads=N")
    limit_loaded(args.threads)
    frameworks = ({fw: "not requested" for fw in ("jax", "torch", "autograd")}
                  if args.no_frameworks else available())
    info = machine(args.threads)
    info.update(versions())
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    budget = args.budget if args.budget is not None else (1.5 if args.quick else 12.0)
    results = []
    for case in cases(quick=args.quick):
        if only and case.problem not in only:
            continue
        print(f"{case.id} ...", end=" ", flush=True)
        r = run_case(case, frameworks, budget, args.threads)
        results.append(r)
        print(f"{r['seconds']:.1f} s", flush=True)
    text = table(results, info, quick=args.quick)
    print()
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results,
                                               "quick": args.quick}, indent=1))
    if args.write:
        write_readme(HERE / "README.md", "speed", text)
        print(f"wrote the table into {HERE / 'README.md'}")
    print("targets:", "; ".join(TARGETS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
