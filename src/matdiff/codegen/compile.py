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

from ..errors import EvaluationError, ShapeError
from ..evaluate import check_dense
from .blocks import BlockDiagonal, BlockPlan
from .checks import Mismatch, shape_check_lines, sum_check_lines, sum_mismatch
from .module import ModuleSpec, build_module, layout
from .structured import Diagonal

__all__ = ["CompiledFunction"]

MAX_SIGNATURES = 16  # modules kept per compiled function


class CompiledFunction:
    """fn(**values): the generated NumPy code for `spec`, specialised per shape signature."""

    def __init__(self, spec: ModuleSpec, pack: Callable[[list[Any]], Any] | None = None,
                 backend: str | None = None) -> None:
        self.spec = spec
        self.backend = backend
        self._pack = pack
        self._names, self._symbols, self._free = layout(spec)
        self._shapes = [spec.variables[n].shape for n in self._names]
        self._optional = [(n, v.shape) for n, v in spec.variables.items() if n not in self._names]
        self._scalar = [o.ir.ndim == 0 for o in spec.outputs]
        self._known = frozenset(spec.variables)
        self._cache: dict[tuple[int, ...], Callable] = {}
        self._sources: dict[tuple[int, ...], str] = {}
        self._foreign: dict[str, Any] = {}
        if backend not in (None, "numpy"):
            self._call = self._runner(backend).call
        else:
            self._call = self._fast_binder() if not self._free else self._slow
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

        self.check_names(values)  # a misspelled name would plan for the default sizes
        dims: dict[str, int] = {}
        shapes = {n: (tuple(v) if isinstance(v, tuple | list) else np.shape(v))
                  for n, v in values.items()}
        for name, var in self.spec.variables.items():
            if name in shapes:
                self._bind_shape(name, var.shape, shapes[name], dims)
        head = module_header(made_by or f"{self.origin}.source()", self.expression,
                             [s for s in self._symbols if s not in dims], how_to_size)
        if backend not in (None, "numpy"):
            from .backends import known_backend

            return head + build_module(self.spec, sizes=dims,
                                       backend=known_backend(backend))[0]
        key = tuple(dims.get(s) for s in self._symbols)
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

            runner = self._foreign[name] = ForeignRunner(self, name, _finish, _flatten_tail)
        return runner

    def _slow(self, values: Mapping[str, Any]) -> Any:
        if self.backend is None and isinstance(values, Mapping):
            from .backends import backend_of

            name = backend_of(values)
            if name != "numpy":
                return self._runner(name).call(values)
        args, dims = self._bind(values)
        return self._entry(dims)(*args, *[dims[d] for d in self._free])

    def _entry(self, dims: dict[str, int]) -> Callable:
        key = tuple(dims[s] for s in self._symbols)
        entry = self._cache.get(key)
        return entry if entry is not None else self._build(key)

    def _build(self, key: tuple[int, ...]) -> Callable:
        """Generate, compile and cache the module for one shape signature."""
        dims = dict(zip(self._symbols, key))
        text, structured = build_module(self.spec, sizes=dims)
        for o, how in zip(self.spec.outputs, structured):
            if how is False:  # refused before NumPy tries to allocate it
                check_dense(o.ir.shape, dims)
        namespace: dict[str, Any] = {}
        exec(compile(text, f"<matdiff generated {self.spec.function}>", "exec"), namespace)
        fn = namespace[self.spec.function]
        if self.spec.tail_tuple:  # (value, (g1, g2)) flattened for the finishing touches
            fn = _flatten_tail(fn)
        entry = _finish(fn, self._scalar, structured, self._pack)
        if len(self._cache) >= MAX_SIGNATURES:
            oldest = next(iter(self._cache))
            self._cache.pop(oldest)
            self._sources.pop(oldest, None)
        self._cache[key] = entry
        self._sources[key] = text
        return entry

    def _fast_binder(self) -> Callable[[Mapping[str, Any]], Any]:
        """Generated code that converts values, checks shapes and looks up the signature."""
        lines = ["def call(values):",  # more values than used: make sure each is a variable
                 f"    if len(values) != {len(self._names)}: check_names(values)", "    try:"]
        bound: dict[str, str] = {}
        for k, (name, shape) in enumerate(zip(self._names, self._shapes)):
            if self.backend is None:  # arrays of other libraries: the slow path dispatches
                lines.append(f"        if not isinstance(values[{name!r}], plain): raise Mismatch")
            lines.append(f"        a{k} = asarray(values[{name!r}], dtype=float64)")
            lines += shape_check_lines(k, shape, bound)
        lines += sum_check_lines(bound)
        if not self._names:
            lines.append("        pass")
        key = ", ".join(bound[s] for s in self._symbols)
        args = ", ".join(f"a{k}" for k in range(len(self._names)))
        lines += ["    except (KeyError, TypeError, ValueError, Mismatch):",
                  "        return slow(values)",
                  f"    key = ({key}{',' if len(self._symbols) == 1 else ''})",
                  "    entry = cache.get(key)",
                  "    if entry is None:",
                  "        entry = build(key)",
                  f"    return entry({args})"]
        namespace: dict[str, Any] = {"asarray": np.asarray, "float64": np.float64,
                                     "plain": (np.ndarray, float, int),
                                     "Mismatch": Mismatch, "slow": self._slow,
                                     "check_names": self.check_names,
                                     "cache": self._cache, "build": self._build}
        exec(compile("\n".join(lines), "<matdiff value checks>", "exec"), namespace)
        return namespace["call"]

    def check_names(self, values: Mapping[str, Any]) -> None:
        """Refuse a value for a name that is no variable of the function (a misspelling)."""
        unknown = [n for n in values if n not in self._known]
        if unknown:
            raise EvaluationError(unknown_names_message(unknown, self.spec.variables))

    def _shapes_of(self, values: Mapping[str, Any]) -> dict[str, int]:
        self.check_names(values)
        dims: dict[str, int] = {}
        shapes = {n: (tuple(v) if isinstance(v, tuple) else np.shape(v)) for n, v in values.items()}
        for name, shape in zip(self._names, self._shapes):
            if name not in shapes:
                raise EvaluationError(f"no value for '{name}'")
            self._bind_shape(name, shape, shapes[name], dims)
        self._bind_optional(shapes, dims)
        _check_sums(dims)
        return dims

    def _bind(self, values: Mapping[str, Any]) -> tuple[list[np.ndarray], dict[str, int]]:
        if not isinstance(values, Mapping):
            raise EvaluationError("values must be given by name, as fn(x=..., A=...)")
        self.check_names(values)
        args: list[np.ndarray] = []
        dims: dict[str, int] = {}
        for name, shape in zip(self._names, self._shapes):
            try:
                raw = values[name]
            except KeyError:
                missing = [n for n in self._names if n not in values]
                raise EvaluationError(f"no value for {', '.join(repr(n) for n in missing)} "
                                      f"(needed: {', '.join(self._names)})") from None
            try:
                a = np.asarray(raw, dtype=float)
            except (TypeError, ValueError):
                raise EvaluationError(f"the value of '{name}' is not an array of real numbers"
                                      ) from None
            self._bind_shape(name, shape, a.shape, dims)
            args.append(a)
        if self._free or self._optional:
            self._bind_optional({n: np.shape(values[n]) for n, _ in self._optional
                                 if n in values}, dims)
        _check_sums(dims)
        return args, dims

    def _bind_optional(self, shapes: Mapping[str, tuple[int, ...]], dims: dict[str, int]) -> None:
        """Dimensions told only by variables the result does not use (or not at all)."""
        for name, shape in self._optional:
            if name in shapes:
                self._bind_shape(name, shape, tuple(shapes[name]), dims)
        for d in self._free:
            if d not in dims:
                raise EvaluationError(f"the size {d} cannot be told from the values given: "
                                      "pass a value for a variable that has it")

    @staticmethod
    def _bind_shape(name: str, shape, got: tuple[int, ...], dims: dict[str, int]) -> None:
        if len(got) != len(shape):
            kind = {0: "a scalar", 1: "a vector", 2: "a matrix"}.get(len(shape), "a tensor")
            raise ShapeError(f"'{name}' should be {kind} (shape {_fmt(shape)}), got shape {got}")
        for d, k in zip(shape, got):
            if isinstance(d, int):
                if d != k:
                    raise ShapeError(f"'{name}' has shape {got}, expected {_fmt(shape)}")
            elif dims.setdefault(d, k) != k:
                raise ShapeError(f"'{name}' has shape {got}, but dimension {d} is already "
                                 f"{dims[d]} from another value")


def _check_sums(dims: dict[str, int]) -> None:
    problem = sum_mismatch(dims)
    if problem:
        raise ShapeError(problem)


def unknown_names_message(unknown: list[str], variables: Mapping[str, Any] | list[str]) -> str:
    """'lan' is not a variable of this function (its variables: ...); did you mean 'lam'?"""
    import difflib

    known = list(variables)
    listed = ", ".join(repr(n) for n in unknown)
    message = (f"{listed} {'is' if len(unknown) == 1 else 'are'} not "
               f"{'a variable' if len(unknown) == 1 else 'variables'} of this function "
               f"(its variables: {', '.join(known) or 'none'})")
    lower = {k.lower(): k for k in known}
    close = [m for n in unknown
             for m in ([lower[n.lower()]] if n.lower() in lower
                       else difflib.get_close_matches(n, known, n=1))]
    if close:
        message += f"; did you mean {' and '.join(repr(c) for c in close)}?"
    return message


def _flatten_tail(fn: Callable) -> Callable:
    def flat(*a: Any) -> tuple:
        first, rest = fn(*a)
        return (first, *rest)
    return flat


def _finish(fn: Callable, scalar: list[bool], structured: list[bool | BlockPlan],
            pack: Callable[[list[Any]], Any] | None) -> Callable:
    """fn with its raw results turned into what the caller gets: floats, Diagonals,
    BlockDiagonals, a pack."""
    if len(scalar) == 1 and pack is None:
        if scalar[0]:
            return lambda *a: float(fn(*a))
        plan = structured[0]
        if isinstance(plan, BlockPlan):
            def blocks(*a: Any) -> BlockDiagonal:
                shape, *factors = fn(*a)
                return BlockDiagonal(plan, shape, factors)
            return blocks
        if plan:
            return lambda *a: Diagonal(fn(*a))
        return fn

    def finish(*a: Any) -> Any:
        results = list(fn(*a))
        for k, r in enumerate(results):
            if scalar[k]:
                results[k] = float(r)
            elif structured[k] is True:
                results[k] = Diagonal(r)
        return pack(results) if pack is not None else tuple(results)

    return finish


def _shape_arg(v: Any) -> str:
    """A value given to source() as the shape tuple it stood for."""
    return repr(tuple(v) if isinstance(v, tuple | list) else tuple(np.shape(v)))


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
