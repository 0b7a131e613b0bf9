"""Named rewrite rules applied to a fixed point (placeholder: identity until the simplifier lands)."""

from __future__ import annotations

from ..ir.expr import Expr

__all__ = ["simplify"]


def simplify(e: Expr) -> Expr:
    return e
