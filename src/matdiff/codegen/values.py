"""Lazy values: an array plus a map saying how it embeds into the full tensor.

A derivative is full of structure that dense code would waste time on:
identities, diagonals, broadcast scalars, transposes. Code generation keeps
each intermediate as a `Val`: an array `ref` whose axes are some "core"
axes, and a `pattern` giving, for every axis of the full tensor, the core
axis it reads. Three things follow from one rule:

* a core axis used by two full axes is a diagonal (`diag(v)` is `v` with
  pattern (0, 0); entries off it are zero);
* a core axis the array does not carry (a *virtual* axis) is constant along
  it (`vector(c)` is the scalar `c` with pattern (0,); the identity is the
  scalar 1 with pattern (0, 0));
* a pattern that permutes the array's axes is a transpose, done for free.

Nothing dense is built until an operation needs it (`materialize`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache

from ..ir.expr import Dim

__all__ = ["Val", "axes_template", "partition", "is_atomic", "number_literal"]


@dataclass(frozen=True)
class Val:
    """An array `ref` (code) with axes `real`, embedded by `pattern` into a tensor of `dims`.

    `dims[k]` is the length of core axis k; `real` lists the core axes the array
    has, in its axis order; `pattern[p]` is the core axis read by full axis p.
    """

    ref: str
    real: tuple[int, ...]
    pattern: tuple[int, ...]
    dims: tuple[Dim, ...]
    param: bool = False       # ref is an input of the generated function
    symmetric: bool = False   # ref is a matrix known to equal its transpose
    literal: float | None = None  # the value, when ref is a number
    boolean: bool = False     # ref is a 0/1 mask of dtype bool (only ever a product's factor)

    @staticmethod
    def dense(ref: str, shape: tuple[Dim, ...], **kw) -> Val:
        k = tuple(range(len(shape)))
        return Val(ref, k, k, tuple(shape), **kw)

    @staticmethod
    def number(value: float, shape: tuple[Dim, ...]) -> Val:
        """A constant-filled tensor: a number on virtual axes."""
        k = tuple(range(len(shape)))
        return Val(number_literal(value), (), k, tuple(shape), literal=float(value))

    @staticmethod
    def scalar_ref(ref: str, shape: tuple[Dim, ...]) -> Val:
        """A scalar (0-d) array broadcast to `shape`."""
        k = tuple(range(len(shape)))
        return Val(ref, (), k, tuple(shape))

    @property
    def shape(self) -> tuple[Dim, ...]:
        return tuple(self.dims[k] for k in self.pattern)

    @property
    def tied(self) -> bool:
        """Some core axis feeds two full axes: the tensor is a (generalised) diagonal."""
        return len(set(self.pattern)) < len(self.pattern)

    @property
    def is_plain(self) -> bool:
        """The array is the tensor itself, axis for axis."""
        return self.real == self.pattern

    @property
    def is_paired_diagonal(self) -> bool:
        """Shape S + S, nonzero only where both halves agree (an element-wise map's Jacobian)."""
        k = len(self.pattern)
        if k == 0 or k % 2:
            return False
        first, second = self.pattern[: k // 2], self.pattern[k // 2:]
        return first == second and len(set(first)) == len(first)


def partition(v: Val) -> tuple[int, ...]:
    """For each full axis, the first full axis tied to it: equal partitions share structure."""
    first: dict[int, int] = {}
    return tuple(first.setdefault(c, p) for p, c in enumerate(v.pattern))


def axes_template(real: tuple[int, ...], target: list[int]) -> str:
    """A template turning an array with axes `real` into one broadcastable over `target`.

    Every axis of `real` must occur in `target`; axes of target that the array
    lacks become new length-1 axes (None), except leading ones, which NumPy's
    broadcasting adds by itself.
    """
    present = [t for t in target if t in real]
    perm = [real.index(t) for t in present]
    expr = "{0}"
    if perm != sorted(perm):
        expr = "{0}.T" if len(perm) == 2 else f"np.transpose({{0}}, {tuple(perm)})"
    if present:
        start = target.index(present[0])
        idx = [":" if t in real else "None" for t in target[start:]]
        while idx and idx[-1] == ":":
            idx.pop()
        if idx:
            expr = f"{expr}[{', '.join(idx)}]"
    return expr


def number_literal(value: float) -> str:
    """Python source for a float: a literal, or a NumPy constant for inf and nan."""
    value = float(value)
    if value != value:
        return "np.nan"
    if value in (float("inf"), float("-inf")):
        return "np.inf" if value > 0 else "-np.inf"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}.0"
    return repr(value)


@lru_cache(maxsize=4096)
def is_atomic(code: str) -> bool:
    """Code that needs no brackets when used as an operand: a name, number, call or subscript."""
    try:
        node = ast.parse(code, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, (ast.Name, ast.Constant, ast.Call, ast.Subscript, ast.Attribute))


