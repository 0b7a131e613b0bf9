"""Binding values to declared shapes: one signature, one wording, for every caller.

`evaluate`, compiled functions (codegen/compile.py, codegen/foreign.py) and
fit's data (optim/setup.py) all take values for variables of declared shapes
(`X: m x n`) and must say the same thing when a value does not fit: which
variable, the shape it should have (in words, `shape_words`), the shape it
has, and which other value fixed a disagreeing dimension. They read it here.

A `Signature` is the variables a function takes (`names`, in order), every
variable's declared shape (`shapes`; those not in `names` may still tell a
size), the dimension symbols (`symbols`) and those no taken value carries
(`free`). `bind` reads the sizes off the values' shapes.

This module imports only errors.py, so any layer may read it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import EvaluationError, ValueShapeError

__all__ = ["Signature", "bind_shape", "missing_message", "shape_text", "shape_words",
           "settle_sums", "size_parts", "sum_mismatch", "unknown_names_message"]


def shape_text(shape: Sequence[Any]) -> str:
    """`m x n`, or `scalar`: a shape written bare (a table cell, a header)."""
    return "scalar" if len(shape) == 0 else " x ".join(str(d) for d in shape)


def shape_words(shape: Sequence[Any], orientation: str | None = None) -> str:
    """`a matrix (m x n)`: a shape in words, for a sentence. A vector's `orientation`
    may be said: `row` (a row vector, 1 x n) or `column` (a column vector)."""
    if len(shape) == 0:
        return "a scalar"
    if len(shape) == 1:
        if orientation == "row":
            return f"a row vector (1 x {shape[0]})"
        return f"a {'column ' if orientation == 'column' else ''}vector ({shape[0]})"
    kind = "a matrix" if len(shape) == 2 else f"a {len(shape)}-d array"
    return f"{kind} ({shape_text(shape)})"


def bind_shape(name: str, shape: Sequence[Any], got: Sequence[int], dims: dict[Any, int],
               sources: dict[Any, str] | None = None) -> None:
    """Check the value of `name` (shape `got`) against `shape`, binding its dimensions in
    `dims`; `sources` remembers which value bound each (for the error)."""
    got = tuple(got)
    fits = len(got) == len(shape) and all(d == k for d, k in zip(shape, got)
                                          if isinstance(d, int))
    if not fits:
        raise ValueShapeError(f"'{name}' should be {shape_words(shape)}, but its value has "
                         f"shape {got}")
    for d, k in zip(shape, got):
        if isinstance(d, int):
            continue
        if dims.setdefault(d, k) != k:
            where = f"'{sources[d]}'" if sources and d in sources else "another value"
            raise ValueShapeError(f"dimension {d} is {dims[d]} in {where} but {k} in '{name}'")
        if sources is not None:
            sources.setdefault(d, name)


def size_parts(d: Any) -> list[Any]:
    """The parts of a concatenated size: `n+m+2` -> [n, m, 2]; any other size alone."""
    if not isinstance(d, str):
        return [d]
    return [int(p) if p.isdigit() else p for p in d.split("+")]


def sum_mismatch(dims: Mapping[Any, int]) -> str | None:
    """The first concatenated size (`n+m`, of `[x; h]`) whose value is not the sum of its
    parts' values, described; None when every one adds up."""
    for d, value in dims.items():
        parts = size_parts(d)
        if len(parts) > 1 and all(isinstance(p, int) or p in dims for p in parts):
            total = sum(p if isinstance(p, int) else dims[p] for p in parts)
            if total != value:
                return f"dimension {d} is {value}, but its parts add up to {total}"
    return None


def settle_sums(dims: dict[Any, int], sources: dict[Any, str] | None = None) -> str | None:
    """Tell the parts of concatenated sizes (n+m) that no value gives, from the sizes bound:
    one unknown part at a time, also repeated (n+n, of [eye, eye]*A, tells n), until nothing
    more is told. Returns the first size whose parts cannot add up to it, described; None
    when every one can."""
    sources = {} if sources is None else sources
    told = True
    while told:
        told = False
        for d in [d for d in dims if len(size_parts(d)) > 1]:
            parts = size_parts(d)
            known = [p if isinstance(p, int) else dims.get(p) for p in parts]
            missing = [p for p, k in zip(parts, known) if k is None]
            rest = dims[d] - sum(k for k in known if k is not None)
            if missing and len(set(missing)) == 1 and rest >= len(missing) and \
                    rest % len(missing) == 0:
                dims[missing[0]] = rest // len(missing)
                sources.setdefault(missing[0], sources.get(d, d))
                told = True
            elif not missing and rest:
                return f"dimension {d} is {dims[d]}, but its parts add up to {dims[d] - rest}"
            elif missing and len(set(missing)) == 1:
                return (f"dimension {d} is {dims[d]} in '{sources.get(d)}', which its parts "
                        f"cannot add up to")
    return None


def missing_message(missing: Sequence[str], needed: Sequence[str]) -> str:
    """no value for 'x' (needed: x, A)"""
    return (f"no value for {', '.join(repr(n) for n in missing)} "
            f"(needed: {', '.join(needed)})")


def unknown_names_message(unknown: list[str], variables: Mapping[str, Any] | list[str]) -> str:
    """'lan' is not a variable of this function (its variables: ...); did you mean 'lam'?"""
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


class Signature:
    """The variables a function takes and their shapes; `bind` reads sizes off values."""

    def __init__(self, shapes: Mapping[str, Sequence[Any]], names: Sequence[str],
                 symbols: Sequence[str] = (), free: Sequence[str] = ()) -> None:
        self.shapes = {n: tuple(s) for n, s in shapes.items()}   # every variable's
        self.names = list(names)        # the variables taken, in order
        self.symbols = list(symbols)    # every dimension symbol, in the cache key's order
        self.free = list(free)          # symbols no taken value carries
        self.optional = [(n, s) for n, s in self.shapes.items() if n not in self.names]

    def check_names(self, values: Mapping[str, Any]) -> None:
        """Refuse a value for a name that is no variable of the function (a misspelling)."""
        unknown = [n for n in values if n not in self.shapes]
        if unknown:
            raise EvaluationError(unknown_names_message(unknown, self.shapes))

    def check_present(self, values: Mapping[str, Any]) -> None:
        missing = [n for n in self.names if n not in values]
        if missing:
            raise EvaluationError(missing_message(missing, self.names))

    def bind(self, shapes: Mapping[str, Sequence[int]]) -> dict[Any, int]:
        """The size of every symbol, from the shapes of the values (`name -> shape`)."""
        dims: dict[Any, int] = {}
        sources: dict[Any, str] = {}
        self.check_present(shapes)
        for name in self.names:
            bind_shape(name, self.shapes[name], shapes[name], dims, sources)
        self.bind_optional(shapes, dims, sources)
        problem = sum_mismatch(dims)
        if problem:
            raise ValueShapeError(problem)
        return dims

    def bind_optional(self, shapes: Mapping[str, Sequence[int]], dims: dict[Any, int],
                      sources: dict[Any, str] | None = None) -> None:
        """Dimensions told only by variables the result does not use (or not at all)."""
        for name, shape in self.optional:
            if name in shapes:
                bind_shape(name, shape, shapes[name], dims, sources)
        problem = settle_sums(dims, sources)
        if problem:
            raise ValueShapeError(problem)
        for d in self.free:
            if d not in dims:
                raise EvaluationError(f"the size {d} cannot be told from the values given: "
                                      "pass a value for a variable that has it")
