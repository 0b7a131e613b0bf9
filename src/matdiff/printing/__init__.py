"""Printers (placeholder: index notation until the real printers land)."""

from __future__ import annotations

from ..ir.expr import Expr

__all__ = ["to_text", "to_latex", "derivative_to_text", "derivative_to_latex"]


def to_text(e: Expr, layout: str = "shape", orientation: str | None = None) -> str:
    return repr(e)


def to_latex(e: Expr, layout: str = "shape", orientation: str | None = None) -> str:
    return repr(e)


def derivative_to_text(d, layout: str = "shape") -> str:
    return repr(d.ir)


def derivative_to_latex(d, layout: str = "shape") -> str:
    return repr(d.ir)
