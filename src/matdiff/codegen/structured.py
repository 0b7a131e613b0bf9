"""`Diagonal`: a diagonal Jacobian or Hessian kept as its diagonal, O(n) in time and memory.

The Jacobian of an element-wise map f: R^n -> R^n is diag(f'(x)); dense, it
is n^2 numbers of which n are not zero. `compile(structured=True)` returns
this object instead. It behaves like the dense array where it matters:
`D @ v`, `M @ D`, `np.asarray(D)`, `D.toarray()`, `.shape`.

For a map of a matrix (shape S = (m, n)), the Jacobian has shape S + S and
`values` has shape S; `@` then contracts the trailing len(S) axes of the
left operand with the leading len(S) axes of the right one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Diagonal"]


class Diagonal:
    """A tensor of shape values.shape * 2, zero except where both halves of the index agree."""

    __array_priority__ = 100  # so that ndarray @ Diagonal defers to __rmatmul__

    def __init__(self, values: Any) -> None:
        self.values = np.asarray(values, dtype=float)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape * 2

    @property
    def ndim(self) -> int:
        return 2 * self.values.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def diagonal(self) -> np.ndarray:
        """The entries on the diagonal, in the shape of one half of the index."""
        return self.values

    def toarray(self) -> np.ndarray:
        """The dense tensor (n^2 memory: for checking and small sizes)."""
        k = self.values.ndim
        out = np.zeros(self.shape)
        strides = tuple(a + b for a, b in zip(out.strides[:k], out.strides[k:]))
        view = np.lib.stride_tricks.as_strided(out, shape=self.values.shape, strides=strides)
        view[...] = self.values
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        dense = self.toarray()
        return dense if dtype is None else dense.astype(dtype)

    def _check(self, other: np.ndarray, leading: bool) -> None:
        k = self.values.ndim
        part = other.shape[:k] if leading else other.shape[other.ndim - k:]
        if other.ndim < k or part != self.values.shape:
            raise ValueError(f"shapes {self.shape} and {other.shape} do not align for @")

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, Diagonal):
            return Diagonal(self.values * other.values)
        if _defers_to(self, other):
            return NotImplemented
        other = np.asarray(other)
        self._check(other, leading=True)
        extra = other.ndim - self.values.ndim
        return self.values.reshape(self.values.shape + (1,) * extra) * other

    def __rmatmul__(self, other: Any) -> Any:
        if _defers_to(self, other):
            return NotImplemented
        other = np.asarray(other)
        self._check(other, leading=False)
        return other * self.values

    def __mul__(self, c: Any) -> Diagonal:
        if np.ndim(c) != 0:
            return NotImplemented
        return Diagonal(self.values * c)

    __rmul__ = __mul__

    def __neg__(self) -> Diagonal:
        return Diagonal(-self.values)

    def __repr__(self) -> str:
        return f"Diagonal({self.values!r})"


def _defers_to(me: Any, other: Any) -> bool:
    """Whether `other` is a structured operand of higher priority (a BlockDiagonal), whose
    own @ keeps the product structured instead of this one making it dense."""
    return (not isinstance(other, np.ndarray) and hasattr(other, "__rmatmul__")
            and getattr(other, "__array_priority__", 0) > me.__array_priority__)
