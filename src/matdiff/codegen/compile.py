"""Compiled functions: validate values, pick the code for their shapes, run it.

Contraction orders and distributions depend on the dimensions, so a
compiled function generates and caches one module per shape signature
(usually one): the first call with new shapes plans, later calls only
check shapes and run NumPy. `specialize(**values)` plans ahead of time.

Calls cost about a microsecond on top of NumPy: the value checks are
themselves generated code (`_fast_binder`); any value that fails them is
checked again by the plain Python path, which raises the precise error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import EvaluationError
from ..evaluate import check_dense
from ..signature import Signature, bind_shape
from .backends import backend_of, known_backend
from .checks import Mismatch, shape_check_lines, sum_check_lines
from .finish import finish, flatten_tail
from .module import ModuleSpec, build_module, layout

__all__ = ["CompiledFunction"]

MAX_SIGNATURES = 16  # modules kept per compiled function


class CompiledFunction:
    """fn(**values): the generated NumPy code for `spec`, specialised per shape signature."""

    def __init__(self, spec: ModuleSpec, pack: Callable[[list[Any]], Any] | None = None,
                 backend: str | None = None) -> None:
        self.spec = spec
        self.backend = backend
        self.pack = pack
        names, symbols, free = layout(spec)
        self.signature = Signature({n: v.shape for n, v in spec.variables.items()},
                                   names, symbols, free)
        self.scalar = [o.ir.ndim == 0 for o in spec.outputs]
        self._cache: dict[tuple[int, ...], Callable] = {}
        self._sources: dict[tuple[int, ...], str] = {}
        self._foreign: dict[str, Any] = {}
        if backend is not None:
            known_backend(backend)  # an unknown name is refused here, once
        if backend not in (None, "numpy"):
            self._call = self._runner(backend).call
        else:
            self._call = self._fast_binder() if not self.signature.free else self._slow
        self.__doc__ = spec.returns or spec.title
        # what made the function and from what, for the header of a printed module (api.py)
        self.origin = f"a compiled function ({spec.function})"
        self.expression = spec.title

    # ------------------------------------------------------------ calling

    def __call__(self, **values: Any) -> Any:
        return self._call(values)

    def specialize(self, **values: Any) -> CompiledFunction:
        """Plan and generate the code for the shapes of `values` now (arrays or shape tuples)."""
        self._entry(self._shapes_of(values))
        return self

    def source(self, **values: Any) -> str:
        """The generated module planned for the shapes of `values` (arrays or shape tuples).

        Variables left out, and dimensions no value fixes, are planned as 1000 long.
        """
        shapes = ", ".join(f"{n}={_shape_arg(v)}" for n, v in values.items())
        return self.source_for(self.backend, values,
                               made_by=f"{self.origin}.source({shapes})",
                               how_to_size=".source(X=(A, B), ...)")

    def source_for(self, backend: str | None, values: Mapping[str, Any],
                   made_by: str | None = None, how_to_size: str = "shapes={'X': (A, B)}"
                   ) -> str:
        """The module for `backend` (None: NumPy), whose library need not be installed,
        under a header saying what made it (`made_by`) and from what (header.py)."""
        from .header import module_header

        sig = self.signature
        sig.check_names(values)  # a misspelled name would plan for the default sizes
        dims: dict[str, int] = {}
        sources: dict[str, str] = {}
        shapes = {n: (tuple(v) if isinstance(v, tuple | list) else np.shape(v))
                  for n, v in values.items()}
        for name, shape in sig.shapes.items():
            if name in shapes:
                bind_shape(name, shape, shapes[name], dims, sources)
        head = module_header(made_by or f"{self.origin}.source()", self.expression,
                             [s for s in sig.symbols if s not in dims], how_to_size)
        if backend not in (None, "numpy"):
            return head + build_module(self.spec, sizes=dims,
                                       backend=known_backend(backend))[0]
        key = tuple(dims.get(s) for s in sig.symbols)
        if key in self._sources:
            return head + self._sources[key]
        return head + build_module(self.spec, sizes=dims)[0]

    def __repr__(self) -> str:
        args = ", ".join(f"{n}=..." for n in self.spec.variables)
        return f"<compiled {self.spec.function}({args}): {self.expression}>"

    def _repr_html_(self) -> str:
        """How to call it, what it returns, and its generated module (a notebook's display)."""
        from ..printing.html import compiled_html

        shapes = [(n, " x ".join(str(d) for d in v.shape) or "scalar")
                  for n, v in self.spec.variables.items()]
        args = ", ".join(f"{n}=..." for n in self.spec.variables)
        try:
            module = (next(reversed(self._sources.values())) if self._sources
                      else self.source_for(self.backend, {}))
        except Exception:  # noqa: BLE001 - a display never fails: no module then
            module = None
        backend = self.backend or "the values' library"
        return compiled_html(f"{self.origin} (runs on {backend})",
                             f"fn({args})", self.__doc__ or "", shapes, module)

    # ------------------------------------------------------------ internals

    def _runner(self, name: str) -> Any:
        """The runner for a non-NumPy backend (foreign.py), made once."""
        runner = self._foreign.get(name)
        if runner is None:
            from .foreign import ForeignRunner

            runner = self._foreign[name] = ForeignRunner(self, name)
        return runner

    def _slow(self, values: Mapping[str, Any]) -> Any:
        if self.backend is None and isinstance(values, Mapping):
            name = backend_of(values)
            if name != "numpy":
                return self._runner(name).call(values)
        args, dims = self._bind(values)
        return self._entry(dims)(*args, *[dims[d] for d in self.signature.free])

    def _entry(self, dims: dict[str, int]) -> Callable:
        key = tuple(dims[s] for s in self.signature.symbols)
        entry = self._cache.get(key)
        return entry if entry is not None else self._build(key)

    def _build(self, key: tuple[int, ...]) -> Callable:
        """Generate, compile and cache the module for one shape signature."""
        dims = dict(zip(self.signature.symbols, key))
        text, structured = build_module(self.spec, sizes=dims)
        for o, how in zip(self.spec.outputs, structured):
            if how is False:  # refused before NumPy tries to allocate it
                check_dense(o.ir.shape, dims)
        namespace: dict[str, Any] = {}
        exec(compile(text, f"<matdiff generated {self.spec.function}>", "exec"), namespace)
        fn = namespace[self.spec.function]
        if self.spec.tail_tuple:  # (value, (g1, g2)) flattened for the finishing touches
            fn = flatten_tail(fn)
        entry = finish(fn, self.scalar, structured, self.pack)
        if len(self._cache) >= MAX_SIGNATURES:
            oldest = next(iter(self._cache))
            self._cache.pop(oldest)
            self._sources.pop(oldest, None)
        self._cache[key] = entry
        self._sources[key] = text
        return entry

    def _fast_binder(self) -> Callable[[Mapping[str, Any]], Any]:
        """Generated code that converts values, checks shapes and looks up the signature."""
        sig = self.signature
        lines = ["def call(values):",  # more values than used: make sure each is a variable
                 f"    if len(values) != {len(sig.names)}: check_names(values)", "    try:"]
        bound: dict[str, str] = {}
        for k, name in enumerate(sig.names):
            shape = sig.shapes[name]
            if self.backend is None:  # arrays of other libraries: the slow path dispatches
                lines.append(f"        if not isinstance(values[{name!r}], plain): raise Mismatch")
            lines.append(f"        a{k} = asarray(values[{name!r}], dtype=float64)")
            lines += shape_check_lines(k, shape, bound)
        lines += sum_check_lines(bound)
        if not sig.names:
            lines.append("        pass")
        key = ", ".join(bound[s] for s in sig.symbols)
        args = ", ".join(f"a{k}" for k in range(len(sig.names)))
        lines += ["    except (KeyError, TypeError, ValueError, Mismatch):",
                  "        return slow(values)",
                  f"    key = ({key}{',' if len(sig.symbols) == 1 else ''})",
                  "    entry = cache.get(key)",
                  "    if entry is None:",
                  "        entry = build(key)",
                  f"    return entry({args})"]
        namespace: dict[str, Any] = {"asarray": np.asarray, "float64": np.float64,
                                     "plain": (np.ndarray, float, int),
                                     "Mismatch": Mismatch, "slow": self._slow,
                                     "check_names": sig.check_names,
                                     "cache": self._cache, "build": self._build}
        exec(compile("\n".join(lines), "<matdiff value checks>", "exec"), namespace)
        return namespace["call"]

    def check_names(self, values: Mapping[str, Any]) -> None:
        """Refuse a value for a name that is no variable of the function (a misspelling)."""
        self.signature.check_names(values)

    def _shapes_of(self, values: Mapping[str, Any]) -> dict[str, int]:
        self.signature.check_names(values)
        return self.signature.bind({n: (tuple(v) if isinstance(v, tuple) else np.shape(v))
                                    for n, v in values.items()})

    def _bind(self, values: Mapping[str, Any]) -> tuple[list[np.ndarray], dict[str, int]]:
        if not isinstance(values, Mapping):
            raise EvaluationError("values must be given by name, as fn(x=..., A=...)")
        sig = self.signature
        sig.check_names(values)
        sig.check_present(values)
        args: list[np.ndarray] = []
        for name in sig.names:
            try:
                args.append(np.asarray(values[name], dtype=float))
            except (TypeError, ValueError):
                raise EvaluationError(f"the value of '{name}' is not an array of real numbers"
                                      ) from None
        shapes = {n: a.shape for n, a in zip(sig.names, args)}
        shapes.update({n: np.shape(values[n]) for n, _ in sig.optional if n in values})
        return args, sig.bind(shapes)


def _shape_arg(v: Any) -> str:
    """A value given to source() as the shape tuple it stood for."""
    return repr(tuple(v) if isinstance(v, tuple | list) else tuple(np.shape(v)))
