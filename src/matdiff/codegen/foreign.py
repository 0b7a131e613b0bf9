"""Running a compiled derivative on PyTorch, JAX, CuPy or Dask arrays, or any of them.

`ForeignRunner` is the non-NumPy half of `CompiledFunction`: it converts the
values to the backend's arrays (numbers and NumPy arrays join the device of
the other tensors; integers become float64), binds the dimensions, and
generates (in the array API standard, backends.py) and caches one module per
shape signature. The portable backend, "array-api", converts to the library
of the arrays passed (NumPy when there are none). JAX modules are compiled
with `jax.jit`, the lengths no value carries passed as static arguments.
Results stay the backend's arrays, on their device: a scalar is a 0-d array,
not a Python float.

A call whose values are already the backend's floating arrays (on one
device, for PyTorch) and whose shapes were seen before takes `call`, a few
generated lines of checks and a dictionary lookup: a hand-written function
gets its arguments for free, and the fixed cost of a call counts when one
call takes 50 microseconds. Anything else goes the full way (`__call__`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import EvaluationError, MatdiffError, ShapeError
from .backends import backend_of, get_backend
from .checks import Mismatch, shape_check_lines, sum_check_lines, sum_mismatch
from .module import build_module

__all__ = ["ForeignRunner"]


class ForeignRunner:
    """fn(values) for one non-NumPy backend, sharing the plan of a CompiledFunction."""

    def __init__(self, owner: Any, name: str, finish: Callable, flatten: Callable) -> None:
        self.backend = get_backend(name)  # a clear error when the library is missing
        self.owner = owner
        self.finish = finish    # compile.py's result shaping, shared with NumPy
        self.flatten = flatten
        self.name = name
        self.cache: dict[tuple[int, ...], Callable] = {}
        self.sources: dict[tuple[int, ...], str] = {}
        self.call: Callable[[Mapping[str, Any]], Any] = (
            self._fast() if not owner._free and owner._names and name in _FLOATING else self)

    def __call__(self, values: Mapping[str, Any]) -> Any:
        owner = self.owner
        owner.check_names(values)
        # a backend named at compile time converts NumPy arrays given with its own
        found = backend_of(values, numpy_converts=owner.backend is not None)
        if found not in ("numpy", self.name) and not self.backend.portable:
            raise MatdiffError(f"this function runs on {self.name} arrays, but the values are "
                               f"{found} arrays; compile with backend={found!r} or None")
        library = found if self.backend.portable else self.name
        convert = _converter(library, values)
        if library == "torch":  # the values the code multiplies (not those giving sizes)
            used = set(owner._names)
            convert = _one_dtype({n: v for n, v in values.items() if n in used}, convert)
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
        problem = sum_mismatch(dims)  # n+m bound from a value agrees with n and m
        if problem:
            raise ShapeError(problem)
        key = tuple(dims[s] for s in owner._symbols)
        entry = self.cache.get(key)
        if entry is None:
            entry = self._build(key)
        extra = [dims[d] for d in owner._free]
        if not owner._names:  # the result takes the library, dtype and device of a value
            extra.append(next((convert(v) for v in values.values() if hasattr(v, "shape")),
                              convert(0.0)))
        return entry(*args, *extra)

    def _fast(self) -> Callable[[Mapping[str, Any]], Any]:
        """Generated checks for values already in the backend's floating arrays (else __call__)."""
        owner = self.owner
        lines = ["def call(values):",
                 f"    if len(values) != {len(owner._names)}: check_names(values)", "    try:"]
        bound: dict[str, str] = {}
        for k, (name, shape) in enumerate(zip(owner._names, owner._shapes)):
            lines.append(f"        a{k} = values[{name!r}]")
            lines.append(f"        if not ({_FLOATING[self.name].format(f'a{k}')}): raise Mismatch")
            if self.name == "torch":  # one device and one dtype: else the full path decides
                lines.append("        dev = a0.device; dt = a0.dtype" if k == 0 else
                             f"        if a{k}.device != dev or a{k}.dtype != dt: raise Mismatch")
            lines += shape_check_lines(k, shape, bound)
        lines += sum_check_lines(bound)
        if not owner._names:
            lines.append("        pass")
        key = ", ".join(bound[s] for s in owner._symbols)
        lines += ["    except (KeyError, TypeError, AttributeError, Mismatch):",
                  "        return slow(values)",
                  f"    entry = cache.get(({key}{',' if len(owner._symbols) == 1 else ''}))",
                  "    if entry is None:",
                  "        return slow(values)",
                  f"    return entry({', '.join(f'a{k}' for k in range(len(owner._names)))})"]
        namespace: dict[str, Any] = {"Mismatch": Mismatch, "slow": self, "cache": self.cache,
                                     "check_names": owner.check_names}
        if self.name == "torch":
            import torch

            namespace["is_tensor"] = torch.is_tensor
        else:
            import jax

            namespace["Array"] = jax.Array
        exec(compile("\n".join(lines), f"<matdiff value checks ({self.name})>", "exec"),
             namespace)
        return namespace["call"]

    def source(self, dims: Mapping[str, int]) -> str:
        return build_module(self.owner.spec, sizes=dims, blocks=False,
                            backend=self.backend)[0]

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




# the test, in generated code, that a value is the backend's floating array
_FLOATING = {"torch": "is_tensor({0}) and {0}.is_floating_point()",
             "jax": "isinstance({0}, Array) and {0}.dtype.kind == 'f'"}


def _one_dtype(values: Mapping[str, Any], convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, with numbers, integers and 0-d arrays taking the dtype of the arrays.

    PyTorch multiplies matrices of one dtype only (`addmv input tensors must
    have the same dtype`): arrays of two floating dtypes are refused here,
    naming them, before the generated code runs.
    """
    import torch

    kinds: dict[Any, list[str]] = {}
    for name, v in values.items():
        dtype = getattr(v, "dtype", None)
        if dtype is None or not getattr(v, "shape", ()):
            continue
        if not isinstance(dtype, torch.dtype):  # a NumPy array, converted as it is
            try:
                dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
            except TypeError:
                continue
        if dtype.is_floating_point:
            kinds.setdefault(dtype, []).append(name)
    if len(kinds) > 1:
        listing = " and ".join(f"{str(d).replace('torch.', '')} ({', '.join(map(repr, n))})"
                               for d, n in kinds.items())
        raise MatdiffError(f"the values mix {listing}: PyTorch multiplies arrays of one dtype "
                           "only; convert them to one, as x.float() (float32) or x.double() "
                           "(float64) for a tensor, x.astype('float32') for a NumPy array")
    if not kinds:
        return convert
    dtype = next(iter(kinds))

    def to_dtype(v: Any) -> Any:
        t = convert(v)
        return t if t.dtype == dtype else t.to(dtype)

    return to_dtype


def _converter(name: str, values: Mapping[str, Any]) -> Callable[[Any], Any]:
    """Value -> the backend's floating array, on the device of the values' arrays."""
    if name == "torch":
        import torch

        device = next((v.device for v in values.values() if torch.is_tensor(v)), None)

        def to_torch(v: Any) -> Any:
            # Python numbers and lists are float64, as in NumPy (not PyTorch's float32 default)
            plain = isinstance(v, int | float | list | tuple)
            t = torch.as_tensor(v, dtype=torch.float64 if plain else None, device=device)
            return t if t.is_floating_point() else t.to(torch.float64)

        return to_torch
    if name == "jax":
        import jax.numpy as jnp

        def to_jax(v: Any) -> Any:
            a = jnp.asarray(v)
            return a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(float)

        return to_jax
    if name == "numpy":
        import numpy as np

        def to_numpy(v: Any) -> Any:
            a = np.asarray(v)
            return a if a.dtype.kind == "f" else a.astype(np.float64)

        return to_numpy
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
