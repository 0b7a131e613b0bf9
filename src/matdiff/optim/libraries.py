"""Which array library computes fit's gradients: a named one, or the fastest on this data.

`fit` keeps its loop, its parameters and its results in NumPy; the loss and
gradients of each step may come from matdiff's code compiled for PyTorch or
JAX instead (`fit(backend="torch")`), over the same memory where the library
allows it (`torch.from_numpy`, `.numpy()`: no copies on the CPU). With no
library named, a step that takes NumPy more than `RACE_FROM` seconds is timed
once in each installed library on the data of one step, and the fastest
trains when at least a tenth faster than NumPy (its BLAS may be faster than
NumPy's: PyTorch bundles its own). A
step shorter than that stays in NumPy, whose calls cost the least overhead.
JAX joins only with 64-bit floats enabled (`jax_enable_x64`): otherwise it
would train in float32 where NumPy trains in float64.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MatdiffError

__all__ = ["LIBRARIES", "library_gradient", "fastest_library", "installed_libraries"]

LIBRARIES = ("numpy", "torch", "jax")
RACE_FROM = 0.002      # a NumPy step shorter than this (seconds) is not raced
RACE_BUDGET = 0.05     # seconds of timing per library, at least one call
MARGIN = 0.9           # another library trains only when 10% faster: near-ties stay NumPy,
                       # so that load on the machine rarely changes which library (and so
                       # which rounding) a fit gets

GradFn = Callable[[Mapping[str, Any]], tuple[float, dict[str, np.ndarray]]]


def installed_libraries() -> list[str]:
    """NumPy, then those of PyTorch and JAX that import (JAX only with float64 enabled)."""
    out = ["numpy"]
    if importlib.util.find_spec("torch") is not None:
        out.append("torch")
    if importlib.util.find_spec("jax") is not None:
        import jax

        if jax.config.read("jax_enable_x64"):
            out.append("jax")
    return out


def _converters(library: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(NumPy -> the library's array, the library's array -> NumPy) for one step's values."""
    if library == "torch":
        import torch

        def to(v: Any) -> Any:
            if isinstance(v, np.ndarray) and v.ndim:
                return torch.from_numpy(v if v.flags.c_contiguous else np.ascontiguousarray(v))
            return torch.as_tensor(v, dtype=torch.float64)

        return to, lambda g: g.detach().cpu().numpy()
    if library == "jax":
        import jax.numpy as jnp

        return (lambda v: jnp.asarray(v, dtype=jnp.float64)), np.asarray
    return (lambda v: v), (lambda g: g)


def library_gradient(expression: Any, wrt: Sequence[str], declare: Any,
                     library: str) -> GradFn:
    """values -> (loss, {name: gradient}) in NumPy, computed by `library`'s compiled code.

    Data arrays that come back in every step (full batch) are converted once.
    """
    from ..api import value_and_grad

    if library not in LIBRARIES:
        raise MatdiffError(f"unknown array library {library!r}; valid names: "
                           f"{', '.join(LIBRARIES)}")
    names = list(wrt)
    fn = value_and_grad(expression, wrt=names, declare=declare,
                        backend=None if library == "numpy" else library)
    to, back = _converters(library)
    kept: dict[str, tuple[Any, Any]] = {}   # data name -> (the NumPy array, its conversion)

    def convert(name: str, v: Any) -> Any:
        if name in names or library == "numpy":
            return to(v)
        seen = kept.get(name)
        if seen is not None and seen[0] is v:
            return seen[1]
        out = to(v)
        kept[name] = (v, out)
        return out

    def call(values: Mapping[str, Any]) -> tuple[float, dict[str, np.ndarray]]:
        value, grads = fn(**{k: convert(k, v) for k, v in values.items()})
        out = {}
        for name, g in zip(names, grads, strict=True):
            g = back(g)
            out[name] = float(g) if np.ndim(g) == 0 else g
        return float(value), out

    return call


def fastest_library(expression: Any, wrt: Sequence[str], declare: Any,
                    probe: Mapping[str, Any], numpy_fn: GradFn
                    ) -> tuple[str, GradFn, dict[str, float]]:
    """(library, its gradient function, {library: seconds per step}) on one step's `probe`.

    A library that fails to build or disagrees with NumPy on the probe is left out.
    """
    seconds = {"numpy": _time(numpy_fn, probe)}
    if seconds["numpy"] < RACE_FROM:
        return "numpy", numpy_fn, seconds
    want_value, want_grads = numpy_fn(probe)
    best, best_fn = "numpy", numpy_fn
    for library in installed_libraries()[1:]:
        try:
            fn = library_gradient(expression, wrt, declare, library)
            value, grads = fn(probe)
        except Exception:  # noqa: BLE001 - a library that cannot run this loss is skipped
            continue
        if not _agree(value, grads, want_value, want_grads):
            continue
        seconds[library] = _time(fn, probe)
        if seconds[library] < MARGIN * seconds[best]:
            best, best_fn = library, fn
    return best, best_fn, seconds


def _agree(value, grads, want_value, want_grads) -> bool:
    return bool(np.isclose(value, want_value, rtol=1e-7, atol=1e-12)) and all(
        np.allclose(grads[k], want_grads[k], rtol=1e-7, atol=1e-12) for k in want_grads)


def _time(fn: GradFn, probe: Mapping[str, Any]) -> float:
    """The fastest of repeated calls within the budget (the first, warming, not counted)."""
    fn(probe)
    best = float("inf")
    start = time.perf_counter()
    calls = 0
    while calls < 3 or time.perf_counter() - start < RACE_BUDGET:
        t0 = time.perf_counter()
        fn(probe)
        best = min(best, time.perf_counter() - t0)
        calls += 1
        if calls >= 50 or best > RACE_BUDGET:
            break
    return best
