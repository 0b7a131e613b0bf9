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

from ..errors import MatdiffError
from .backends import backend_of, get_backend, known_backend
from .checks import Mismatch, shape_check_lines, sum_check_lines
from .finish import finish, flatten_tail
from .module import build_module

__all__ = ["ForeignRunner"]


class ForeignRunner:
    """fn(values) for one non-NumPy backend, sharing the plan of a CompiledFunction.

    It reads the function's public parts only: `spec`, `signature` (the
    variables, their shapes, the binding), `scalar`, `pack`, and `backend`
    (the name given at compile time, or None).
    """

    def __init__(self, owner: Any, name: str) -> None:
        self.backend = get_backend(name)  # a clear error when the library is missing
        self.owner = owner
        self.name = name
        self.cache: dict[tuple[int, ...], Callable] = {}
        self.sources: dict[tuple[int, ...], str] = {}
        sig = owner.signature
        self.call: Callable[[Mapping[str, Any]], Any] = (
            self._fast() if not sig.free and sig.names and self.backend.floating else self)

    def __call__(self, values: Mapping[str, Any]) -> Any:
        owner, sig = self.owner, self.owner.signature
        sig.check_names(values)
        # a backend named at compile time converts NumPy arrays given with its own
        found = backend_of(values, numpy_converts=owner.backend is not None)
        if found not in ("numpy", self.name) and not self.backend.portable:
            raise MatdiffError(f"this function runs on {self.name} arrays, but the values are "
                               f"{found} arrays; compile with backend={found!r} or None")
        library = known_backend(found if self.backend.portable else self.name)
        convert = library.convert(values, frozenset(sig.names))
        sig.check_present(values)
        args = [convert(values[name]) for name in sig.names]
        shapes = {n: tuple(a.shape) for n, a in zip(sig.names, args)}
        shapes.update({n: tuple(getattr(values[n], "shape", ())) for n, _ in sig.optional
                       if n in values})
        dims = sig.bind(shapes)
        key = tuple(dims[s] for s in sig.symbols)
        entry = self.cache.get(key)
        if entry is None:
            entry = self._build(key)
        extra = [dims[d] for d in sig.free]
        if not sig.names:  # the result takes the library, dtype and device of a value
            extra.append(next((convert(v) for v in values.values() if hasattr(v, "shape")),
                              convert(0.0)))
        return entry(*args, *extra)

    def _fast(self) -> Callable[[Mapping[str, Any]], Any]:
        """Generated checks for values already in the backend's floating arrays (else __call__)."""
        sig, backend = self.owner.signature, self.backend
        lines = ["def call(values):",
                 f"    if len(values) != {len(sig.names)}: check_names(values)", "    try:"]
        bound: dict[str, str] = {}
        for k, name in enumerate(sig.names):
            lines.append(f"        a{k} = values[{name!r}]")
            lines.append(f"        if not ({backend.floating.format(f'a{k}')}): raise Mismatch")
            if backend.one_device:  # one device and one dtype: else the full path decides
                lines.append("        dev = a0.device; dt = a0.dtype" if k == 0 else
                             f"        if a{k}.device != dev or a{k}.dtype != dt: raise Mismatch")
            lines += shape_check_lines(k, sig.shapes[name], bound)
        lines += sum_check_lines(bound)
        key = ", ".join(bound[s] for s in sig.symbols)
        lines += ["    except (KeyError, TypeError, AttributeError, Mismatch):",
                  "        return slow(values)",
                  f"    entry = cache.get(({key}{',' if len(sig.symbols) == 1 else ''}))",
                  "    if entry is None:",
                  "        return slow(values)",
                  f"    return entry({', '.join(f'a{k}' for k in range(len(sig.names)))})"]
        namespace: dict[str, Any] = {"Mismatch": Mismatch, "slow": self, "cache": self.cache,
                                     "check_names": sig.check_names}
        exec(backend.floating_import, namespace)
        exec(compile("\n".join(lines), f"<matdiff value checks ({self.name})>", "exec"),
             namespace)
        return namespace["call"]

    def source(self, dims: Mapping[str, int]) -> str:
        return build_module(self.owner.spec, sizes=dims, blocks=False,
                            backend=self.backend)[0]

    def _build(self, key: tuple[int, ...]) -> Callable:
        owner, sig = self.owner, self.owner.signature
        text = self.source(dict(zip(sig.symbols, key)))
        namespace: dict[str, Any] = {}
        exec(compile(text, f"<matdiff generated {owner.spec.function} ({self.name})>", "exec"),
             namespace)
        fn = namespace[owner.spec.function]
        if self.backend.jit:
            import jax

            first_free = len(sig.names)
            fn = jax.jit(fn, static_argnums=tuple(range(first_free,
                                                        first_free + len(sig.free))))
        if owner.spec.tail_tuple:
            fn = flatten_tail(fn)
        plain = [False] * len(owner.scalar)  # results stay the backend's arrays
        entry = finish(fn, plain, plain, owner.pack)
        self.cache[key] = entry
        self.sources[key] = text
        return entry
