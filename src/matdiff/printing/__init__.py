"""Printers: IR to matrix notation (text that parses back, and LaTeX).

The pipeline: matrix.to_form turns IR into a Form (matrix notation, or index
notation where none exists), layout.py arranges a derivative in the chosen
layout, and a printer subclass (TextPrinter, LatexPrinter) spells it.

Layouts (see docs/printing.md): "shape" (the default) prints a tensor of
exactly the shape `d.evaluate` returns, so the printed text evaluates to the
same array; "numerator" is the article's (the gradient of a scalar is a row,
`x'*(A + A')`); "denominator" is the Matrix Cookbook's for vector
derivatives (Jacobians transposed).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..ir.expr import Expr
from ..typing import Orient
from .form import Form, transpose
from .latex import LatexPrinter
from .layout import LAYOUTS, derivative_form
from .matrix import to_form
from .text import TextPrinter

__all__ = ["to_text", "to_latex", "derivative_to_text", "derivative_to_latex", "LAYOUTS",
           "expression_form", "TextPrinter", "LatexPrinter"]


def expression_form(e: Expr, orientation: str | None = None,
                    variables: Mapping[str, Expr] | None = None,
                    declare: Mapping[str, str] | None = None,
                    rows: frozenset[str] = frozenset()) -> Form:
    """The form of an expression; a row vector when orientation is "row".

    `variables` (the Expression's) let a size print as numel(x) even where the
    expression itself no longer mentions x; `declare` (the user's declarations) is how
    the text will be read back, which decides where a size must be written; `rows` names
    the vector variables that are row vectors (they print as `r'` where a column stands).
    """
    f = to_form(e, variables, declare, rows)
    return transpose(f) if orientation == "row" and f.orient == "c" else f


def to_text(e: Expr, orientation: Orient = None,
            variables: Mapping[str, Expr] | None = None,
            declare: Mapping[str, str] | None = None,
            rows: frozenset[str] = frozenset()) -> str:
    """e in the input language (parses back to the same value).

    No layout: a layout arranges a derivative (derivative_to_text), and an
    expression has no derivative axes to arrange.
    """
    return TextPrinter().doprint(expression_form(e, orientation, variables, declare, rows))


def to_latex(e: Expr, orientation: Orient = None,
             variables: Mapping[str, Expr] | None = None,
             declare: Mapping[str, str] | None = None,
             rows: frozenset[str] = frozenset()) -> str:
    """e as LaTeX math (no layout, as to_text)."""
    return LatexPrinter().doprint(expression_form(e, orientation, variables, declare, rows))


def derivative_to_text(e: Expr, function: Expr, wrt: str, order: int = 1, layout: str = "shape",
                       orientation: str | None = None,
                       variables: Mapping[str, Expr] | None = None,
                       declare: Mapping[str, str] | None = None,
                       rows: frozenset[str] = frozenset()) -> str:
    """e, the order-th derivative of `function` by `wrt`, in the input language, arranged
    by layout (see layout.derivative_form)."""
    return TextPrinter().doprint(derivative_form(e, function, wrt, order, layout, orientation,
                                                 variables, declare, rows))


def derivative_to_latex(e: Expr, function: Expr, wrt: str, order: int = 1, layout: str = "shape",
                        orientation: str | None = None,
                        variables: Mapping[str, Expr] | None = None,
                        declare: Mapping[str, str] | None = None,
                        rows: frozenset[str] = frozenset()) -> str:
    """The same as LaTeX math."""
    return LatexPrinter().doprint(derivative_form(e, function, wrt, order, layout, orientation,
                                                  variables, declare, rows))
