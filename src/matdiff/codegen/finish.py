"""What the caller of a compiled function gets from the generated code's raw results.

Shared by the NumPy path (compile.py) and the other backends' (foreign.py):
scalars become floats, structured results Diagonals or BlockDiagonals, and
several results a tuple or the caller's `pack`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .blocks import BlockDiagonal, BlockPlan
from .structured import Diagonal

__all__ = ["finish", "flatten_tail"]


def flatten_tail(fn: Callable) -> Callable:
    def flat(*a: Any) -> tuple:
        first, rest = fn(*a)
        return (first, *rest)
    return flat


def finish(fn: Callable, scalar: list[bool], structured: list[bool | BlockPlan],
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

    def finished(*a: Any) -> Any:
        results = list(fn(*a))
        for k, r in enumerate(results):
            if scalar[k]:
                results[k] = float(r)
            elif structured[k] is True:
                results[k] = Diagonal(r)
        return pack(results) if pack is not None else tuple(results)

    return finished
