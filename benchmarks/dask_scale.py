"""Fitting on Dask data: in memory against NumPy, and throughput as the data outgrow memory.

    python benchmarks/dask_scale.py --quick            # 0.5 GB on disk, a few minutes
    python benchmarks/dask_scale.py --size 8 --write   # 8 GB on disk, tables into README.md
    python benchmarks/dask_scale.py --dir /data/tmp    # where the Zarr store goes

Issue 12's speed targets for the Dask path, measured on a LocalCluster of
WORKERS worker processes (one thread each) limited to --memory-limit each:

1. In memory: data that fit in the workers' memory (persisted on them, as
   `fit` does by default) against the same data in one process's memory.
   The full-batch loss and gradient (the step of every full-batch optimizer)
   of least squares, logistic regression and a ReLU neuron, sampled in
   interleaved rounds (harness.py: ratios are medians of same-round pairs),
   and a whole `fit` (L-BFGS, reading the data from Zarr included) against
   `fit` on NumPy arrays. Target: Dask within 1.5x of NumPy.
2. Scaling: least squares fitted on growing prefixes of one Zarr store on
   disk (0.25 GB up to --size), always read from disk at every pass
   (persisting turned off), in rows per second, with the peak resident
   memory of each worker process during the fit (psutil, sampled every
   0.1 s) and whether any worker was restarted. NumPy in memory on the largest
   part that fits (--numpy-max GB) is the reference. Target: linear time.

The store (X, y, t = sign(y)) is written once, in pieces, for the largest
size, and removed afterwards unless --keep. Sizes are the bytes of X and y.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threads import configure_threads, limit_loaded  # noqa: E402

configure_threads(1, pin=False)  # Dask workers inherit affinity: they need both cores

import numpy as np  # noqa: E402
from harness import machine, measure, paired_ratio  # noqa: E402
from report import write_readme  # noqa: E402

import matdiff  # noqa: E402

README = Path(__file__).resolve().parent / "README.md"
COLS = 100
CHUNK_ROWS = 100_000          # 80 MB of X per chunk
WORKERS = 2
GB = 1e9
ROW_BYTES = 8 * (COLS + 1)    # one row of X and y

LEAST_SQUARES = "mean((X*w - y).^2)"
LOGISTIC = "sum(log(1 + exp(-t.*(X*w))))/numel(t) + 0.01*w'*w"
NEURON = "mean((y - max(0, X*w + b)).^2)"
PROBLEMS = [("least squares", LEAST_SQUARES, ("X", "y"), {"w": "zeros"}),
            ("logistic regression", LOGISTIC, ("X", "t"), {"w": "zeros"}),
            ("ReLU neuron", NEURON, ("X", "y"), {"w": "zeros", "b": 0.5})]


def rows_for(gb: float) -> int:
    """Rows of X and y making `gb` GB, a whole number of chunks."""
    return max(1, int(gb * GB / ROW_BYTES) // CHUNK_ROWS) * CHUNK_ROWS


# ------------------------------------------------------------------ the data

def write_store(path: Path, rows: int) -> None:
    """X (rows x COLS, normal), y = X w + noise, t = sign(y), uncompressed, in pieces."""
    import zarr

    if (path / "zarr.json").exists():
        g = zarr.open_group(str(path), mode="r")
        if "t" in g and g["X"].shape == (rows, COLS):
            print(f"reusing {path}", flush=True)
            return
    rng = np.random.default_rng(0)
    w_true = rng.normal(size=COLS) / math.sqrt(COLS)
    g = zarr.open_group(str(path), mode="w")
    arrays = {name: g.create_array(name, shape=shape, chunks=chunks, dtype="f8",
                                   compressors=None)
              for name, shape, chunks in [("X", (rows, COLS), (CHUNK_ROWS, COLS)),
                                          ("y", (rows,), (CHUNK_ROWS,)),
                                          ("t", (rows,), (CHUNK_ROWS,))]}
    start = time.perf_counter()
    piece = 5 * CHUNK_ROWS
    for a in range(0, rows, piece):
        b = min(a + piece, rows)
        X = rng.normal(size=(b - a, COLS))
        y = X @ w_true + 0.5 * rng.normal(size=b - a)
        arrays["X"][a:b] = X
        arrays["y"][a:b] = y
        arrays["t"][a:b] = np.where(y > 0, 1.0, -1.0)
    print(f"wrote {rows * ROW_BYTES / GB:.2f} GB in {time.perf_counter() - start:.0f} s",
          flush=True)


def lazy(path: Path, rows: int) -> dict:
    import dask.array as da

    return {n: da.from_zarr(str(path), component=n)[:rows] for n in ("X", "y", "t")}


def loaded(path: Path, rows: int) -> dict:
    import zarr

    g = zarr.open_group(str(path), mode="r")
    return {n: np.asarray(g[n][:rows]) for n in ("X", "y", "t")}


# ------------------------------------------------------------------ memory of the workers

class PeakMemory:
    """The largest resident memory of each worker process while the block runs."""

    def __init__(self, client, every: float = 0.1) -> None:
        import psutil

        pids = client.run(os.getpid)
        self.procs = {addr: psutil.Process(pid) for addr, pid in pids.items()}
        self.every = every

    def __enter__(self) -> PeakMemory:
        self.peak = {a: p.memory_info().rss for a, p in self.procs.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for a, p in self.procs.items():
                try:
                    self.peak[a] = max(self.peak[a], p.memory_info().rss)
                except Exception:  # noqa: BLE001 - a worker that died has no memory
                    pass

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------ 1. in memory

def gradients(name: str, loss: str, names, params: dict, lazy_data: dict, data: dict,
              client, budget: float) -> dict:
    """Full-batch loss and gradient, Dask (persisted) against compiled NumPy."""
    from matdiff.optim.chunked import Connection
    from matdiff.optim.fit import prepare
    from matdiff.optim.fit_chunked import chunked_setup
    from matdiff.optim.gradients import gradient_function

    expr, values, arrays, axes = prepare(loss, params, {n: lazy_data[n] for n in names})
    dask_fn, _, info = chunked_setup(expr, values, arrays, axes, Connection(client, []))
    assert info["persisted"]
    expr, values, arrays, _ = prepare(loss, params, {n: data[n] for n in names})
    probe = {**arrays, **values}
    numpy_fn, backend, _ = gradient_function(expr, list(values), None, probe=probe)
    rng = np.random.default_rng(1)
    point = {k: v + 0.1 * rng.normal(size=np.shape(v)) for k, v in values.items()}
    (a, ga), (b, gb) = dask_fn(point), numpy_fn({**arrays, **point})
    err = max([abs(a - b) / max(abs(b), 1e-300)] +
              [float(np.max(np.abs(ga[k] - gb[k]))) for k in ga])
    res = measure({"dask": lambda: dask_fn(point), "numpy": lambda: numpy_fn({**arrays, **point})},
                  budget=budget, min_rounds=5)
    return {"problem": name, "dask_ms": 1e3 * res["dask"]["median"],
            "numpy_ms": 1e3 * res["numpy"]["median"],
            "ratio": paired_ratio(res["dask"], res["numpy"]), "diff": err,
            "rounds": res["dask"]["samples"], "chunks": info["chunks"], "backend": backend}


def whole_fit(path: Path, rows: int, data: dict, client, repeats: int, epochs: int) -> dict:
    """`fit` with L-BFGS from the Zarr store: Dask (read and persisted inside the fit), NumPy
    (the store loaded first, then fitted) and NumPy on arrays already in memory."""
    kw = {"optimizer": "lbfgs", "epochs": epochs, "progress": False}

    def dask_fit():
        source = lazy(path, rows)
        return matdiff.fit(LEAST_SQUARES, {"w": "zeros"}, {"X": source["X"], "y": source["y"]},
                           client=client, **kw)

    def numpy_fit(source: dict):
        return matdiff.fit(LEAST_SQUARES, {"w": "zeros"}, {"X": source["X"], "y": source["y"]},
                           **kw)

    runs = {"dask": dask_fit, "load": lambda: numpy_fit(loaded(path, rows)),
            "numpy": lambda: numpy_fit(data)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    results = {}
    for _ in range(repeats):
        for label, run in runs.items():
            start = time.perf_counter()
            results[label] = run()
            times[label].append(time.perf_counter() - start)

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    diff = float(np.max(np.abs(results["dask"].params["w"] - results["numpy"].params["w"])))
    return {"dask_s": statistics.median(times["dask"]),
            "numpy_s": statistics.median(times["numpy"]),
            "load_s": statistics.median(times["load"]), "ratio": ratio("dask", "numpy"),
            "ratio_load": ratio("dask", "load"), "diff": diff, "epochs": epochs}


# ------------------------------------------------------------------ 2. scaling

def scaling_run(path: Path, rows: int, client, epochs: int) -> dict:
    """Least squares by full-batch SGD read from disk at every pass: time, rows/s, memory."""
    from matdiff.optim import chunked

    workers = set(client.scheduler_info()["workers"])
    data = lazy(path, rows)
    kept = chunked.PERSIST_FRACTION
    chunked.PERSIST_FRACTION = 0.0  # stream from disk even when the data would fit
    try:
        with PeakMemory(client) as mem:
            start = time.perf_counter()
            r = matdiff.fit(LEAST_SQUARES, {"w": "zeros"}, {"X": data["X"], "y": data["y"]},
                            optimizer="sgd", lr=0.1, epochs=epochs, client=client,
                            progress=False)
            seconds = time.perf_counter() - start
    finally:
        chunked.PERSIST_FRACTION = kept
    passes = epochs + 1  # each epoch's gradient, then the final loss
    return {"gb": rows * ROW_BYTES / GB, "rows": rows, "seconds": seconds, "passes": passes,
            "rows_per_s": rows * passes / seconds, "persisted": r.extra["persisted"],
            "peak_mb": {a: m / 2**20 for a, m in mem.peak.items()},
            "restarted": workers != set(client.scheduler_info()["workers"]),
            "w": r.params["w"]}


def merge_runs(runs: list[dict]) -> dict:
    """The fastest run of a size, with the largest peak memory seen in any."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak_mb"] = {a: max(r["peak_mb"].get(a, 0) for r in runs) for a in best["peak_mb"]}
    best["restarted"] = any(r["restarted"] for r in runs)
    best["samples"] = len(runs)
    return best


def numpy_run(data: dict, epochs: int) -> dict:
    rows = len(data["y"])
    start = time.perf_counter()
    r = matdiff.fit(LEAST_SQUARES, {"w": "zeros"}, {"X": data["X"], "y": data["y"]},
                    optimizer="sgd", lr=0.1, epochs=epochs, progress=False)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows_per_s": rows * (epochs + 1) / seconds, "w": r.params["w"]}


# ------------------------------------------------------------------ report

def in_memory_text(grads: list[dict], fitted: dict, gb: float, limit: str) -> str:
    lines = [f"Data in memory: {gb:.2f} GB of X ({rows_for(gb):,} x {COLS}) and y, Zarr chunks "
             f"of {CHUNK_ROWS:,} rows, persisted on {WORKERS} workers (one thread each, "
             f"{limit} each) against the same arrays in this process (one BLAS thread). "
             "Loss and gradient at one point (the step of every full-batch optimizer), "
             "medians; the ratio is the median of same-round pairs:", "",
             "| problem | Dask ms | NumPy ms | Dask / NumPy | largest difference | target 1.5x |",
             "|---|---:|---:|---:|---:|---|"]
    for g in grads:
        ok = "met" if g["ratio"] <= 1.5 else "missed"
        lines.append(f"| {g['problem']} | {g['dask_ms']:.0f} | {g['numpy_ms']:.0f} | "
                     f"{g['ratio']:.2f} | {g['diff']:.1e} | {ok} |")
    lines += ["", f"Whole `fit` of least squares from the store, {fitted['epochs']} L-BFGS "
              "iterations, medians over interleaved repeats: Dask (reading and persisting the "
              f"data inside the fit) {fitted['dask_s']:.2f} s; NumPy, loading the store "
              f"first, {fitted['load_s']:.2f} s (Dask / NumPy {fitted['ratio_load']:.2f}); "
              f"NumPy on arrays already in memory {fitted['numpy_s']:.2f} s (Dask / NumPy "
              f"{fitted['ratio']:.2f}). Parameters agree to {fitted['diff']:.1e}."]
    return "\n".join(lines)


def scaling_text(runs: list[dict], ref: dict | None, ref_gb: float | None, limit: str,
                 epochs: int) -> str:
    lines = [f"Least squares, full-batch SGD, {epochs} epoch{'s' * (epochs > 1)} "
             f"({epochs + 1} passes over the "
             f"data: the gradients and the final loss), X with {COLS} columns in Zarr chunks "
             f"of {CHUNK_ROWS:,} rows read from disk at every pass (not persisted), "
             f"{WORKERS} workers limited to {limit} each; each size run "
             f"{runs[0]['samples']} time(s), sizes up then down, the fastest shown:", "",
             "| data GB | rows | fit s | s per GB per pass | rows/s | peak memory per worker (MB) "
             "| workers restarted |", "|---:|---:|---:|---:|---:|---|---|"]
    for r in runs:
        peaks = ", ".join(f"{m:,.0f}" for m in sorted(r["peak_mb"].values()))
        lines.append(f"| {r['gb']:.2f} | {r['rows']:,} | {r['seconds']:.1f} | "
                     f"{r['seconds'] / r['gb'] / r['passes']:.2f} | {r['rows_per_s']:,.0f} | "
                     f"{peaks} | {'yes' if r['restarted'] else 'no'} |")
    if len(runs) >= 2:
        x = np.array([r["gb"] for r in runs])
        t = np.array([r["seconds"] for r in runs])
        slope, intercept = np.polyfit(x, t, 1)
        per = [r["seconds"] / r["gb"] / r["passes"] for r in runs if r["gb"] >= 0.9]
        growth = runs[-1]["rows_per_s"] / runs[0]["rows_per_s"]
        lines += ["", f"Time against size: {slope:.2f} s per GB plus {intercept:.2f} s (least "
                  "squares line)" + (f"; from 1 GB up, {min(per):.2f}-{max(per):.2f} s per GB "
                                     "per pass" if per else "") +
                  f"; rows/s at the largest size is {growth:.2f}x that at the smallest."]
    if ref is not None:
        same = next((r for r in runs if abs(r["gb"] - ref_gb) < 0.01), None)
        vs = (f" Dask from disk on the same {ref_gb:.2f} GB: {same['rows_per_s']:,.0f} rows/s; "
              f"each Dask run took {ref['paired']:.1f}x the NumPy run beside it (median of "
              f"pairs); parameters agree to {float(np.max(np.abs(same['w'] - ref['w']))):.1e}."
              if same else "")
        lines += ["", f"NumPy in memory (one process, one BLAS thread, the data loaded "
                  f"beforehand) on the largest part that fits, {ref_gb:.2f} GB, same fit: "
                  f"{ref['seconds']:.1f} s, {ref['rows_per_s']:,.0f} rows/s." + vs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=None,
                    help="largest data size in GB (default 8; 0.5 with --quick)")
    ap.add_argument("--in-memory", type=float, default=None,
                    help="GB for the in-memory comparison (default 0.4; 0.2 with --quick)")
    ap.add_argument("--numpy-max", type=float, default=2.0,
                    help="largest GB loaded into this process for the NumPy reference")
    ap.add_argument("--memory-limit", default="2GB", help="per worker")
    ap.add_argument("--dir", default=None, help="where to write the Zarr store (default: /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the store (reused next time)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="runs of each size, up then down the sizes (default 2; 1 with --quick)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", action="store_true", help="write the tables into README.md")
    args = ap.parse_args(argv)
    size = args.size or (0.5 if args.quick else 8.0)
    mem_gb = args.in_memory or (0.2 if args.quick else 0.4)
    epochs = 1 if args.quick else 2
    args.repeats = args.repeats or (1 if args.quick else 2)
    warnings.simplefilter("ignore")

    import distributed

    sizes = sorted({s for s in (0.25, 0.5, 1, 2, 4, 8, 16, 32) if s < size} | {size})
    rows = rows_for(max(sizes + [mem_gb]))
    need = rows * (COLS + 2) * 8
    base = Path(args.dir or tempfile.gettempdir())
    free = shutil.disk_usage(base).free
    if free < need + 2 * GB:
        print(f"not enough disk at {base}: {need / GB:.1f} GB needed, {free / GB:.1f} GB free")
        return 1
    path = base / f"matdiff_dask_scale_{rows}.zarr"
    m = machine(1)
    print("\n".join(f"- {k}: {v}" for k, v in m.items()), flush=True)
    cluster = distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                       memory_limit=args.memory_limit, dashboard_address=None)
    client = distributed.Client(cluster)
    limit_loaded(1)
    try:
        write_store(path, rows)
        n_mem = rows_for(mem_gb)
        lazy_mem, mem = lazy(path, n_mem), loaded(path, n_mem)
        grads = []
        for name, loss, names, params in PROBLEMS:
            grads.append(gradients(name, loss, names, params, lazy_mem, mem, client,
                                   budget=8 if args.quick else 30))
            g = grads[-1]
            print(f"{name}: dask {g['dask_ms']:.0f} ms, numpy {g['numpy_ms']:.0f} ms, "
                  f"ratio {g['ratio']:.2f} ({g['rounds']} rounds), diff {g['diff']:.1e}",
                  flush=True)
        fitted = whole_fit(path, n_mem, mem, client, repeats=3 if args.quick else 5,
                           epochs=10)
        print(f"fit: dask {fitted['dask_s']:.2f} s, numpy {fitted['numpy_s']:.2f} s "
              f"({fitted['load_s']:.2f} s loading first), ratio {fitted['ratio']:.2f} "
              f"({fitted['ratio_load']:.2f})", flush=True)
        del lazy_mem, mem
        fits = [s for s in sizes if s <= args.numpy_max]
        ref_gb = rows_for(fits[-1]) * ROW_BYTES / GB if fits else None
        ref_data = loaded(path, rows_for(fits[-1])) if fits else None
        by_size: dict[float, list[dict]] = {gb: [] for gb in sizes}
        refs: list[dict] = []
        for k in range(args.repeats):  # up, then down: load that drifts hits every size
            for gb in (sizes if k % 2 == 0 else sizes[::-1]):
                r = scaling_run(path, rows_for(gb), client, epochs)
                by_size[gb].append(r)
                print(f"{r['gb']:.2f} GB: {r['seconds']:.1f} s, {r['rows_per_s']:,.0f} rows/s, "
                      f"peak MB {[round(v) for v in r['peak_mb'].values()]}, restarted "
                      f"{r['restarted']}", flush=True)
                if ref_data is not None and fits and gb == fits[-1]:
                    refs.append(numpy_run(ref_data, epochs))
                    print(f"  numpy {refs[-1]['seconds']:.1f} s", flush=True)
        runs = [merge_runs(by_size[gb]) for gb in sizes]
        ref = None
        if refs:
            same = by_size[fits[-1]]
            ref = min(refs, key=lambda r: r["seconds"])
            ref["paired"] = statistics.median(
                d["seconds"] / n["seconds"] for d, n in zip(same, refs))
        del ref_data
    finally:
        client.close()
        cluster.close()
        if not args.keep:
            shutil.rmtree(path, ignore_errors=True)
    text = (in_memory_text(grads, fitted, n_mem * ROW_BYTES / GB, args.memory_limit) + "\n\n" +
            scaling_text(runs, ref, ref_gb, args.memory_limit, epochs) + "\n\n" +
            f"Command: `python benchmarks/dask_scale.py {' '.join(argv or sys.argv[1:])}`\n\n" +
            "\n".join(f"- {k}: {v}" for k, v in m.items()))
    print(text)
    if args.write:
        write_readme(README, "dask", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
