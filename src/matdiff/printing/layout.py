"""Layouts: how a first derivative is arranged on the page.

matdiff's derivative is one tensor, shape(f) + shape(x) (docs/language.md). On
paper, vector calculus has two conventions, which differ for a derivative
with at most two axes:

    f \\ x          vector x                      matrix X (m x n)
    scalar          numerator: row (1 x n)         numerator: n x m
                    denominator: column            denominator: m x n
    vector (m)      both: m x n Jacobian ...       (a 3-tensor: index notation)
                    ... denominator: n x m
    and for a scalar x, a vector f is a column in numerator layout, a row in
    denominator layout.

"shape" (the default) prints the tensor as `d.evaluate` returns it, so that
the printed text evaluates to the same array: that is the contract every
other output follows (the JSON record, code generation), and it is what
NumPy and JAX users compare against. The two conventions are a view on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import MatdiffError
from ..ir.expr import Expr
from ..ir.expr import variables as ir_variables
from .form import Form, transpose
from .matrix import kind_of, to_form

__all__ = ["LAYOUTS", "check_layout", "derivative_form", "arrange"]

LAYOUTS = {
    "shape": "the tensor as d.evaluate returns it: shape(f) + shape(x)",
    "numerator": "the article's: a scalar's gradient is a row, a Jacobian is m x n",
    "denominator": "the Cookbook's: a scalar's gradient is a column, a Jacobian is n x m",
}


def check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise MatdiffError(f"unknown layout {layout!r}; choose one of: {', '.join(LAYOUTS)}")


def layout_transposes(f_kind: str, x_kind: str, layout: str) -> bool:
    """Whether the layout shows the shape-convention tensor transposed."""
    if layout == "shape":
        return False
    numerator = {("s", "c"): True, ("s", "m"): True, ("r", "s"): True}
    denominator = {("c", "s"): True, ("c", "c"): True}
    table = numerator if layout == "numerator" else denominator
    return table.get((f_kind, x_kind), False)


def arrange(e, f_kind: str, x_kind: str, layout: str = "shape", extra=None,
            declare: Mapping[str, str] | None = None,
            rows: frozenset[str] = frozenset()) -> Form:
    """The form of a first derivative e of an f of kind f_kind by an x of kind x_kind.

    Kinds are "s", "c", "r" (a row-vector f) or "m", as in form.py; `declare` (the user's
    declarations) is how the text will be read back; `rows` names the variables that are
    row vectors.
    """
    check_layout(layout)
    form = to_form(e, extra, declare, rows)
    if form.orient == "t":
        return form
    if e.ndim == 1 and form.orient == "r" and f_kind != "r":
        form = transpose(form)  # a vector derivative is a column (logsumexp(X, 1) a row)
    return transpose(form) if layout_transposes(f_kind, x_kind, layout) else form


def derivative_form(e: Expr, function: Expr, wrt: str, order: int = 1, layout: str = "shape",
                    orientation: str | None = None,
                    variables: Mapping[str, Expr] | None = None,
                    declare: Mapping[str, str] | None = None,
                    rows: frozenset[str] = frozenset()) -> Form:
    """The form of e, the order-th derivative of `function` by the variable `wrt`, arranged
    as `layout` says (only first derivatives differ). `orientation` is the function's
    ("row" for a row vector); `variables` are its variables (default: those under it)."""
    check_layout(layout)
    extra = dict(variables if variables is not None else ir_variables(function))
    if wrt in extra:  # a size the text must write is named through x first: size(X, 1)
        extra = {wrt: extra[wrt], **extra}
    if order != 1:
        return to_form(e, extra, declare, rows)
    f_kind = kind_of(function.shape)
    if f_kind == "c" and orientation == "row":
        f_kind = "r"
    target = extra.get(wrt)
    x_kind = kind_of(target.shape) if target is not None else "s"
    return arrange(e, f_kind, x_kind, layout, extra, declare, rows)
