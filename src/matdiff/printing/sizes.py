"""Sizes in printed text: a constant whose size nothing in the text fixes is written with it.

`vector(1)`, `matrix(c)` and `eye` take their size from what they meet: in
`x + vector(1)` the ones vector has the length of `x`. A derivative can hold
a constant that meets no variable of its size: `sum(X, 1)*v` by `X` is
`vector(1)*v'`, whose rows are the rows of `X`, which the text never names.
Such text cannot be evaluated from the variables' values alone, so the
constant is written with its size, through a variable that carries it:
`vector(1, size(X, 1))*v'`, `matrix(0, numel(x), numel(x))`,
`eye(size(A, 1))`.

Which constants need it is asked of the language itself: the text is
printed once with each constant filled with a value of its own, parsed with
every variable declared by its kind alone (no shared dimension names, as a
reader retyping the text would) or as the user declared it, and the
constants whose size then belongs to no variable are the ones written with a
size. The plain spelling stays
wherever the text fixes the size, so `eye - vector(1)*u'` still reads so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from ..errors import MatdiffError
from ..ir.expr import Expr
from .form import Form
from .text import TextPrinter

__all__ = ["settle", "unsized", "kind_declarations", "Unparsed"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAG0 = 7_000_001.0  # the first probe value: far from any constant a derivative holds


class Unparsed(Exception):
    """The printed text does not parse back on its own (the caller may print it another
    way)."""


def kind_declarations(variables: Mapping[str, Expr]) -> dict[str, str]:
    """Each variable declared by its kind alone: scalar, vector, matrix, symmetric matrix."""
    out = {}
    for name, v in variables.items():
        if v.ndim == 0:
            out[name] = "scalar"
        elif v.ndim == 1:
            out[name] = "vector"
        else:
            out[name] = "symmetric matrix" if v.attr[1] else "matrix"
    return out


def _constants(root: Form) -> tuple[list[Form], bool]:
    """The filled constants and identities under root (each once), and whether the tree
    holds index notation (which does not parse back)."""
    seen: set[int] = set()
    found: list[Form] = []
    index = False
    stack = [root]
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if f.kind in ("ones", "eye") and not f.args:
            found.append(f)
        index = index or f.kind == "index"
        stack.extend(f.args)
    return found, index


class _ProbePrinter(TextPrinter):
    """Text with every constant filled with its own tag (`eye` as `diag(vector(tag))`)."""

    def __init__(self, tags: Mapping[int, float]) -> None:
        self.tags = tags

    def _print_ones(self, f: Form, parts: list[str]) -> str:
        tag = self.tags.get(id(f))
        if tag is None:
            return super()._print_ones(f, parts)
        return f"{'vector' if f.orient == 'c' else 'matrix'}({tag:.0f})"

    def _print_eye(self, f: Form, parts: list[str]) -> str:
        tag = self.tags.get(id(f))
        return super()._print_eye(f, parts) if tag is None else f"diag(vector({tag:.0f}))"


def settle(root: Form, variables: Mapping[str, Expr], size: Callable[[tuple], Form | None],
           declare: Mapping[str, str] | None = None, check: bool = False) -> Form:
    """root with a size written into each constant the text leaves unsized.

    `size(dims)` is the form naming those dimensions through a variable (None when no
    variable carries them); `declare`, the user's declarations, override the kinds. One
    constant is sized at a time, the first in the text, and the text asked again: in
    `eye - matrix(1)/numel(x)` sizing `eye` fixes both. Raises Unparsed when the text
    does not parse on its own; `check` asks that even when the text holds no constant.
    """
    from ..language.build import unsized_constants

    found, index = _constants(root)
    if index or not (found or check):
        return root
    given = declare or {}
    for _ in range(len(found) + 1):
        tags = {id(f): _TAG0 + k for k, f in enumerate(found)}
        text = _ProbePrinter(tags).doprint(root)
        named = {k: variables[k] for k in set(_NAME.findall(text)) if k in variables}
        try:
            free = unsized_constants(text, {**kind_declarations(named),
                                            **{k: given[k] for k in named if k in given}})
        except MatdiffError as e:
            raise Unparsed(str(e)) from None
        unsized_now = [f for f in _in_text_order(text, found, tags) if tags[id(f)] in free]
        first, sized = next(((f, s) for f in unsized_now
                             if (s := _sized(f, size)) is not None), (None, None))
        if first is None:  # all sized, or none can be (no variable carries the size)
            return root
        root = _rebuild(root, {id(first): sized})
        found = [f for f in found if f is not first]
    return root


def _in_text_order(text: str, found: list[Form], tags: Mapping[int, float]) -> list[Form]:
    """The constants in the order the probe text shows them."""
    return sorted(found, key=lambda f: text.find(f"({tags[id(f)]:.0f})"))


def _sized(f: Form, size: Callable[[tuple], Form | None]) -> Form | None:
    if not f.dims or None in f.dims:
        return None
    sizes = [size((d,)) for d in (f.dims[:1] if f.kind == "eye" else f.dims)]
    return replace(f, args=tuple(sizes)) if all(s is not None for s in sizes) else None


def unsized(root: Form) -> Form:
    """root with every written size taken out of its constants (to be settled again)."""
    swap: dict[int, Form] = {}
    stack, seen = [root], set()
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if f.kind in ("ones", "eye") and f.args:
            swap[id(f)] = replace(f, args=())
        else:
            stack.extend(f.args)
    return _rebuild(root, swap) if swap else root


def _rebuild(root: Form, swap: Mapping[int, Form]) -> Form:
    """root with the forms in `swap` (by id) replaced, every ancestor rebuilt (a loop)."""
    done: dict[int, Form] = {}
    stack: list[tuple[Form, bool]] = [(root, False)]
    while stack:
        f, ready = stack.pop()
        if id(f) in done:
            continue
        if id(f) in swap:
            done[id(f)] = swap[id(f)]
            continue
        if not ready:
            stack.append((f, True))
            stack.extend((a, False) for a in f.args if id(a) not in done)
            continue
        args = tuple(done[id(a)] for a in f.args)
        changed = any(a is not b for a, b in zip(args, f.args))
        done[id(f)] = replace(f, args=args) if changed else f
    return done[id(root)]
