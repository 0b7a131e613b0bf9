"""Running a compiled derivative on PyTorch, JAX, CuPy or Dask arrays.

`ForeignRunner` is the non-NumPy half of `CompiledFunction`: it converts the
values to the backend's arrays (numbers and NumPy arrays join the device of
the other tensors; integers become float64), binds the dimensions, and
generates, respells (backends.py) and caches one module per shape
signature. JAX modules are compiled with `jax.jit`, the lengths no value
carries passed as static arguments. Results stay the backend's arrays, on
their device: a scalar is a 0-d array, not a Python float.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import EvaluationError, MatdiffError
from .backends import backend_of, get_backend, respell
from .module import build_module

__all__ = ["ForeignRunner"]


class ForeignRunner:
    """fn(values) for one non-NumPy backend, sharing the plan of a CompiledFunction."""

    def __init__(self, owner: Any, name: str, finish: Callable, flatten: Callable) -> None:
        get_backend(name)  # a clear error when the library is missing
        self.owner = owner
        self.finish = finish    # compile.py's result shaping, shared with NumPy
        self.flatten = flatten
        self.name = name
        self.cache: dict[tuple[int, ...], Callable] = {}
        self.sources: dict[tuple[int, ...], str] = {}

    def __call__(self, values: Mapping[str, Any]) -> Any:
        found = backend_of(values)
        if found not in ("numpy", self.name):
            raise MatdiffError(f"this function runs on {self.name} arrays, but the values are "
                               f"{found} arrays; compile with backend={found!r} or None")
        owner = self.owner
        convert = _converter(self.name, values)
        args, dims = [], {}
        for name, shape in zip(owner._names, owner._shapes):
            if name not in values:
                missing = [n for n in owner._names if n not in values]
                raise EvaluationError(f"no value for {', '.join(repr(n) for n in missing)} "
                                      f"(needed: {', '.join(owner._names)})")
            a = convert(values[name])
            owner._bind_shape(name, shape, tuple(a.shape), dims)
            args.append(a)
        if owner._free or owner._optional:
            owner._bind_optional({n: tuple(getattr(values[n], "shape", ()))
                                  for n, _ in owner._optional if n in values}, dims)
        key = tuple(dims[s] for s in owner._symbols)
        entry = self.cache.get(key)
        if entry is None:
            entry = self._build(key)
        return entry(*args, *[dims[d] for d in owner._free])

    def source(self, dims: Mapping[str, int]) -> str:
        return respell(build_module(self.owner.spec, sizes=dims)[0], self.name)

    def _build(self, key: tuple[int, ...]) -> Callable:
        owner = self.owner
        text = self.source(dict(zip(owner._symbols, key)))
        namespace: dict[str, Any] = {}
        exec(compile(text, f"<matdiff generated {owner.spec.function} ({self.name})>", "exec"),
             namespace)
        fn = namespace[owner.spec.function]
        if self.name == "jax":
            import jax

            first_free = len(owner._names)
            fn = jax.jit(fn, static_argnums=tuple(range(first_free,
                                                        first_free + len(owner._free))))
        if owner.spec.tail_tuple:
            fn = self.flatten(fn)
        entry = self.finish(fn, [False] * len(owner._scalar), [False] * len(owner._scalar),
                        owner._pack)
        self.cache[key] = entry
        self.sources[key] = text
        return entry


def _converter(name: str, values: Mapping[str, Any]) -> Callable[[Any], Any]:
    """Value -> the backend's floating array, on the device of the values' arrays."""
    if name == "torch":
        import torch

        device = next((v.device for v in values.values() if torch.is_tensor(v)), None)

        def to_torch(v: Any) -> Any:
            t = torch.as_tensor(v, device=device)
            return t if t.is_floating_point() else t.to(torch.float64)

        return to_torch
    if name == "jax":
        import jax.numpy as jnp

        def to_jax(v: Any) -> Any:
            a = jnp.asarray(v)
            return a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(float)

        return to_jax
    if name == "cupy":
        import cupy

        def to_cupy(v: Any) -> Any:
            a = cupy.asarray(v)
            return a if a.dtype.kind == "f" else a.astype(cupy.float64)

        return to_cupy
    import dask.array as da

    def to_dask(v: Any) -> Any:
        a = da.asarray(v)
        return a if a.dtype.kind == "f" else a.astype("float64")

    return to_dask
