"""matdiff's torch and jax backends against hand-written PyTorch and JAX, and their autodiff.

    python benchmarks/backends.py               # the issue's sizes, on the CPU (about 4 minutes)
    python benchmarks/backends.py --quick       # small sizes, under a minute
    python benchmarks/backends.py --write       # also write the table into benchmarks/README.md
    python benchmarks/backends.py --only P2,P5  # some problems
    python benchmarks/gpu.py                    # the same on CUDA (says so when there is none)

For each case of P1-P7 two groups are timed, one after the other, each with
its candidates interleaved round by round (harness.py): PyTorch tensors
through `compile(backend="torch")` (or `value_and_grad`), the closed form
written by hand in PyTorch (closed_forms.py) and `torch.func`; JAX arrays
through `compile(backend="jax")`, the hand-written closed form under
`jax.jit`, and `jax.jit` of `jax.grad` / `hessian` / `jacfwd`. Every result
is first checked against the NumPy closed form.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from threads import configure_threads, limit_loaded  # noqa: E402

_THREADS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--threads=")), 1)
if "cuda" in sys.argv or "--device=cuda" in sys.argv or Path(sys.argv[0]).name == "gpu.py":
    os.environ.setdefault("JAX_PLATFORMS", "")  # every platform JAX has, not only the CPU
configure_threads(_THREADS)

from frameworks import versions  # noqa: E402
from harness import machine, measure, paired_ratio  # noqa: E402
from problems import Case, cases  # noqa: E402
from report import machine_lines, write_readme  # noqa: E402

TARGET = 1.1      # matdiff's backend / the hand-written closed form in the same library
NO_GPU = "no CUDA device: nothing measured"


# ------------------------------------------------------------------ devices

def cuda_devices() -> dict[str, Any]:
    """library -> its CUDA device, for the libraries that have one here."""
    found: dict[str, Any] = {}
    try:
        import torch

        if torch.cuda.is_available():
            found["torch"] = torch.device("cuda")
    except ImportError:
        pass
    try:
        import jax

        found["jax"] = jax.devices("gpu")[0]
    except Exception:  # noqa: BLE001 - no jax, or no GPU platform: nothing to measure
        pass
    return found


def _library(name: str, device: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(convert a NumPy value to the library's array on the device, wait for a result)."""
    if name == "torch":
        import torch

        dev = torch.device(device)
        sync = torch.cuda.synchronize if dev.type == "cuda" else None

        def to_torch(v: Any) -> Any:
            return torch.as_tensor(v, dtype=torch.float64).to(dev)

        def wait_torch(r: Any) -> Any:
            if sync is not None:
                sync()
            return r

        return to_torch, wait_torch
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    dev = jax.devices("gpu")[0] if device == "cuda" else jax.devices("cpu")[0]
    return (lambda v: jax.device_put(jnp.asarray(v, dtype=jnp.float64), dev),
            jax.block_until_ready)


# ------------------------------------------------------------------ candidates

def _matdiff(case: Case, backend: str) -> Callable[[dict[str, Any]], Any]:
    import matdiff

    if case.kind == "value_and_grad":
        vg = matdiff.value_and_grad(case.expression, wrt=case.wrt, declare=case.declare or None,
                                    backend=backend)
        return lambda v: (lambda r: (r[0], *r[1]))(vg(**v))
    order = 2 if case.kind == "hessian" else 1
    d = matdiff.diff(case.expression, wrt=case.wrt[0], declare=case.declare or None, order=order)
    fn = d.compile(backend=backend)
    return lambda v: fn(**v)


def _autodiff(library: str, case: Case, args: list[Any]) -> Callable[[], Any]:
    """torch.func or jax.jit(jax.<transform>) of the loss, on `args` (already on the device)."""
    nums = tuple(case.args.index(w) for w in case.wrt)
    argnums = nums[0] if len(nums) == 1 else nums
    if library == "torch":
        import torch
        import torch.func

        if case.kind == "jacobian":
            fn = torch.func.jacfwd(case.loss_torch)
        elif case.kind == "value_and_grad":
            inner = torch.func.grad_and_value(case.loss_torch, argnums=argnums)

            def fn(*a):
                grads, value = inner(*a)
                return (value, *grads)
        else:
            op = {"gradient": torch.func.grad, "hessian": torch.func.hessian}[case.kind]
            fn = op(case.loss_torch, argnums=argnums)

        def call():
            with torch.no_grad():
                return fn(*args)

        return call
    import jax

    op = {"gradient": jax.grad, "hessian": jax.hessian, "jacobian": jax.jacfwd,
          "value_and_grad": jax.value_and_grad}[case.kind]
    fn = jax.jit(op(case.loss_np) if case.kind == "jacobian" else op(case.loss_np,
                                                                     argnums=argnums))
    return lambda: fn(*args)


def candidates(library: str, case: Case, values: dict[str, Any],
               device: str) -> dict[str, Callable[[], Any]]:
    """label -> no-argument callable, for one library: matdiff, hand, best hand, autodiff."""
    from closed_forms import hand

    to, wait = _library(library, device)
    arrays = {k: to(v) for k, v in values.items()}
    hand_args = [arrays[a] for a in inspect.signature(case.hand).parameters]
    framework_args = [arrays[a] for a in case.args]
    plain, best = hand(library, case)
    md = _matdiff(case, library)
    out = {"matdiff": lambda: wait(md(arrays)), "hand": lambda: wait(plain(*hand_args))}
    if best is not None:
        out["best"] = lambda: wait(best(*hand_args))
    auto = _autodiff(library, case, framework_args)
    out["autodiff"] = lambda: wait(auto())
    return out


def _check(label: str, got: Any, want: Any) -> None:
    import numpy as np

    def flat(x: Any) -> list:
        if isinstance(x, tuple | list):
            return [a for item in x for a in flat(item)]
        if hasattr(x, "detach"):
            x = x.detach().cpu()
        return [np.asarray(x)]

    for g, w in zip(flat(got), flat(want), strict=True):
        scale = max(1.0, float(np.abs(w).max()))
        if g.shape != w.shape or not np.allclose(g, w, rtol=1e-6, atol=1e-8 * scale):
            raise SystemExit(f"{label}: result differs from the NumPy closed form")


def run_case(case: Case, libraries: list[str], device: str, budget: float,
             seed: int = 0) -> dict[str, Any]:
    import numpy as np

    values = case.data(np.random.default_rng(seed))
    want = case.hand(*[values[a] for a in inspect.signature(case.hand).parameters])
    t0 = time.perf_counter()
    timing = {}
    for library in libraries:
        cands = candidates(library, case, values, device)
        for label, fn in cands.items():
            _check(f"{case.id} / {library} {label}", fn(), want)
        timing[library] = measure(cands, budget)
    return {"case": case.id, "problem": case.problem, "kind": case.kind, "timing": timing,
            "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------ the table

def _ms(t: dict | None) -> str:
    if t is None:
        return "—"
    s = t["median"] * 1e3
    return f"{s:.3g}" if s < 1000 else f"{s:,.0f}"


def _r(x: float | None) -> str:
    return "—" if x is None else (f"{x:.2f}" if x < 100 else f"{x:,.0f}")


def ratios(t: dict[str, Any]) -> dict[str, float | None]:
    m = t.get("matdiff")
    return {"hand": paired_ratio(m, t.get("hand")), "best": paired_ratio(m, t.get("best")),
            "autodiff": paired_ratio(t.get("autodiff"), m)}


def verdict(library: str, r: dict[str, float | None]) -> list[str]:
    """The targets missed: within 1.1x of the hand-written closed form; faster than torch.func."""
    out = []
    if r["hand"] is not None and r["hand"] > TARGET:
        out.append(f"{library} x{r['hand']:.2f} hand")
    if library == "torch" and r["autodiff"] is not None and r["autodiff"] < 1.0:
        out.append(f"torch.func faster (x{r['autodiff']:.2f})")
    return out


def table(results: list[dict], info: dict, quick: bool, device: str) -> str:
    lines = [f"Device: {device}. Sizes: {'quick (reduced)' if quick else 'as in the issue'}. "
             "Times are medians per call; each ratio is the median, over rounds, of two times "
             "taken in the same round. \"hand\" is the closed form written by hand in the same "
             "library (closed_forms.py; under `jax.jit` for JAX), \"best\" its fastest known "
             "variant; the autodiff columns are `torch.func` and `jax.jit` of `jax.grad` / "
             "`hessian` / `jacfwd` over the same arrays. Targets: matdiff / hand <= "
             f"{TARGET} in both libraries, torch.func / matdiff > 1.", ""]
    lines += machine_lines(info) + [""]
    lines.append("| case | torch ms | hand torch ms | torch: matdiff / hand | matdiff / best | "
                 "torch.func / matdiff | jax ms | hand jax ms | jax: matdiff / hand | "
                 "matdiff / best | jax.jit(autodiff) / matdiff | targets |")
    lines.append("|" + "---|" * 12)
    for res in results:
        cells, misses = [res["case"]], []
        for library in ("torch", "jax"):
            t = res["timing"].get(library)
            if t is None:
                cells += ["—"] * 5
                continue
            r = ratios(t)
            misses += verdict(library, r)
            cells += [_ms(t["matdiff"]), _ms(t["hand"]), _r(r["hand"]), _r(r["best"]),
                      _r(r["autodiff"])]
        cells.append("met" if not misses else "missed: " + ", ".join(misses))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--write", action="store_true", help="write the table into README.md")
    p.add_argument("--only", default="", help="comma-separated problems, e.g. P1,P5")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS and framework threads (give it as --threads=N)")
    p.add_argument("--budget", type=float, default=None, help="seconds of sampling per group")
    p.add_argument("--json", metavar="FILE", help="also save the raw results")
    args = p.parse_args(argv)
    if args.threads != _THREADS:
        raise SystemExit("give the thread count as --threads=N")
    if args.device == "cuda":
        found = cuda_devices()
        if not found:
            print(NO_GPU)
            return 0
        libraries = [lib for lib in ("torch", "jax") if lib in found]
        for lib in ("torch", "jax"):
            if lib not in found:
                print(f"{lib}: no CUDA device for it here; measuring {', '.join(libraries)}")
    else:
        libraries = ["torch", "jax"]
    limit_loaded(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    info = machine(args.threads)
    info.update({k: v for k, v in versions().items() if k in ("jax", "torch")})
    if args.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name() if "torch" in libraries else str(found["jax"])
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    budget = args.budget if args.budget is not None else (1.0 if args.quick else 4.0)
    results = []
    for case in cases(quick=args.quick):
        if only and case.problem not in only:
            continue
        print(f"{case.id} ...", end=" ", flush=True)
        r = run_case(case, libraries, args.device, budget)
        results.append(r)
        print(f"{r['seconds']:.1f} s", flush=True)
    text = table(results, info, args.quick, args.device)
    print()
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results,
                                               "quick": args.quick}, indent=1))
    if args.write:
        section = "backends" if args.device == "cpu" else "gpu"
        write_readme(HERE / "README.md", section, text)
        print(f"wrote the table into {HERE / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
