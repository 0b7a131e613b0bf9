"""Printers: IR to matrix notation (text that parses back, LaTeX, MathML).

The pipeline: matrix.to_form turns IR into a Form (matrix notation, or index
notation where none exists), layout.py arranges a derivative in the chosen
layout, and a notation of NOTATIONS (notations.py: text, latex, mathml) spells it.

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
from .notations import NOTATIONS, Notation, notation
from .text import TextPrinter

__all__ = ["to_text", "to_latex", "derivative_to_text", "derivative_to_latex", "LAYOUTS",
           "expression_form", "TextPrinter", "LatexPrinter", "NOTATIONS", "Notation",
           "print_expression", "print_derivative"]


def expression_form(e: Expr, orientation: str | None = None,
                    variables: Mapping[str, Expr] | None = None,
                    declare: Mapping[str, str] | None = None,
                    rows: frozenset[str] = frozenset()) -> Form:
    """The form of an expression; a row vector when orientation is "row", a column when
    "col" (None: as its text reads).

    `variables` (the Expression's) let a size print as numel(x) even where the
    expression itself no longer mentions x; `declare` (the user's declarations) is how
    the text will be read back, which decides where a size must be written; `rows` names
    the vector variables that are row vectors (they print as `r'` where a column stands).
    """
    f = to_form(e, variables, declare, rows)
    if orientation == "col" and f.orient == "r" and e.ndim == 1:
        return transpose(f)  # logsumexp(X, 1) is a row: a column value prints it transposed
    return transpose(f) if orientation == "row" and f.orient == "c" else f


def print_expression(e: Expr, notation_name: str = "text", orientation: Orient = None,
                     variables: Mapping[str, Expr] | None = None,
                     declare: Mapping[str, str] | None = None,
                     rows: frozenset[str] = frozenset()) -> str:
    """e in the notation called `notation_name` (NOTATIONS). No layout: a layout arranges
    a derivative (print_derivative), and an expression has no derivative axes to arrange."""
    return notation(notation_name).spell(
        expression_form(e, orientation, variables, declare, rows))


def print_derivative(e: Expr, function: Expr, wrt: str, order: int = 1,
                     layout: str = "shape", notation_name: str = "text",
                     orientation: str | None = None,
                     variables: Mapping[str, Expr] | None = None,
                     declare: Mapping[str, str] | None = None,
                     rows: frozenset[str] = frozenset()) -> str:
    """e, the order-th derivative of `function` by `wrt`, arranged by layout
    (layout.derivative_form) and spelled in the notation called `notation_name`."""
    return notation(notation_name).spell(derivative_form(
        e, function, wrt, order, layout, orientation, variables, declare, rows))


def to_text(e: Expr, orientation: Orient = None,
            variables: Mapping[str, Expr] | None = None,
            declare: Mapping[str, str] | None = None,
            rows: frozenset[str] = frozenset()) -> str:
    """e in the input language (parses back to the same value)."""
    return print_expression(e, "text", orientation, variables, declare, rows)


def to_latex(e: Expr, orientation: Orient = None,
             variables: Mapping[str, Expr] | None = None,
             declare: Mapping[str, str] | None = None,
             rows: frozenset[str] = frozenset()) -> str:
    """e as LaTeX math (no layout, as to_text)."""
    return print_expression(e, "latex", orientation, variables, declare, rows)


def derivative_to_text(e: Expr, function: Expr, wrt: str, order: int = 1, layout: str = "shape",
                       orientation: str | None = None,
                       variables: Mapping[str, Expr] | None = None,
                       declare: Mapping[str, str] | None = None,
                       rows: frozenset[str] = frozenset()) -> str:
    """e in the input language, arranged by layout (see print_derivative)."""
    return print_derivative(e, function, wrt, order, layout, "text", orientation, variables,
                            declare, rows)


def derivative_to_latex(e: Expr, function: Expr, wrt: str, order: int = 1, layout: str = "shape",
                        orientation: str | None = None,
                        variables: Mapping[str, Expr] | None = None,
                        declare: Mapping[str, str] | None = None,
                        rows: frozenset[str] = frozenset()) -> str:
    """The same as LaTeX math."""
    return print_derivative(e, function, wrt, order, layout, "latex", orientation, variables,
                            declare, rows)
