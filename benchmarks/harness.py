"""Interleaved timing in one process, and a description of the machine it ran on.

The machine is shared, so absolute times drift; ratios measured in one run,
with every candidate sampled in each round (in a fresh random order), are
what the tables report. A fast candidate is timed in batches long enough
for the clock; a slow one (seconds per call) gets a few samples only.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["measure", "paired_ratio", "machine"]


def measure(candidates: dict[str, Callable[[], Any]], budget: float, min_rounds: int = 5,
            max_rounds: int = 60, slow: float = 1.5, seed: int = 0,
            last: frozenset[str] = frozenset(), inner: int = 3) -> dict[str, dict[str, Any]]:
    """label -> {"median": s, "rounds": [s or None, ...], ...}: per-call seconds, round-robin.

    Each candidate runs once untimed (JIT compilation, caches), then is calibrated
    to batches of about 5 ms; rounds continue while within `budget` seconds (at
    least `min_rounds`). A candidate slower than `slow` seconds per call stops
    after 3 samples (its later rounds hold None). Candidates in `last` (the
    autodiff frameworks, whose runtime threads stay busy for a while after a
    call) run at the end of each round, followed by a pause, so that they do
    not slow the NumPy candidates they would otherwise precede; the others run
    `inner` times per round (sub-rounds, each in a new order), as they are
    cheap beside the frameworks and their ratios need the samples.
    """
    batch: dict[str, int] = {}
    rounds: dict[str, list[float | None]] = {k: [] for k in candidates}
    for label, fn in candidates.items():
        fn()
        t0 = time.perf_counter()
        fn()
        once = time.perf_counter() - t0
        batch[label] = max(1, min(1000, int(0.005 / max(once, 1e-7))))
    rng = random.Random(seed)
    start = time.perf_counter()
    done = 0
    while done < max_rounds and (done < min_rounds or time.perf_counter() - start < budget):
        first = [k for k in candidates if k not in last]
        then = [k for k in candidates if k in last]
        subs = inner if then else 1
        for sub in range(subs):
            rng.shuffle(first)
            for label in first:
                _sample(label, candidates[label], batch[label], rounds[label], slow)
            rng.shuffle(then)
            for label in then:  # the frameworks: once per round, after the others
                if sub == subs - 1:
                    _sample(label, candidates[label], batch[label], rounds[label], slow)
                else:
                    rounds[label].append(None)
        if then:
            time.sleep(0.05)
        done += 1
    out = {}
    for label, r in rounds.items():
        taken = [t for t in r if t is not None]
        out[label] = {"median": statistics.median(taken), "min": min(taken),
                      "samples": len(taken), "batch": batch[label], "rounds": r}
    return out


def _sample(label: str, fn: Callable[[], Any], k: int, out: list[float | None],
            slow: float) -> None:
    taken = [t for t in out if t is not None]
    if len(taken) >= 3 and statistics.median(taken) > slow:
        out.append(None)
        return
    t0 = time.perf_counter()
    for _ in range(k):
        fn()
    out.append((time.perf_counter() - t0) / k)


def paired_ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    """Median over rounds of a/b, both timed in the same round: load on the machine cancels."""
    if a is None or b is None:
        return None
    pairs = [x / y for x, y in zip(a["rounds"], b["rounds"]) if x is not None and y is not None]
    if not pairs:
        return a["median"] / b["median"]
    return statistics.median(pairs)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(threads: int) -> dict[str, Any]:
    """What the numbers depend on: CPU, BLAS and its kernel, threads, library versions."""
    import numpy as np

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "threads": threads,
        "cores used": (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                       else "all"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", "(unset)"),
        "date": time.strftime("%Y-%m-%d"),
    }
    try:
        one, five, fifteen = os.getloadavg()
        info["load"] = f"load average {one:.1f}, {five:.1f}, {fifteen:.1f} (1, 5, 15 min) at start"
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                info["blas"] = (f"{pool.get('internal_api')} {pool.get('version')} "
                                f"({pool.get('architecture')} kernel, "
                                f"{pool.get('num_threads')} threads)")
                break
    except ImportError:
        info["blas"] = "unknown (threadpoolctl not installed)"
    return info
