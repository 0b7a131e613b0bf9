"""matdiff: the matrix calculus of deep learning, by machine.

    >>> import matdiff
    >>> d = matdiff.diff("x'*A*x", wrt="x")
    >>> str(d)            # the derivative in the text language
    >>> d.evaluate({"x": x, "A": A})

Public surface: parse, diff, value_and_grad, fit, and the error classes.
Heavy parts (printing, code generation, training) load on first use.
"""

from __future__ import annotations

from .api import Derivative, Expression, diff, parse
from .errors import EvaluationError, MatdiffError, ParseError, ShapeError

__all__ = [
    "parse", "diff", "value_and_grad", "fit",
    "Expression", "Derivative",
    "MatdiffError", "ParseError", "ShapeError", "EvaluationError",
]
__version__ = "0.1.0"


def value_and_grad(expr, wrt, declare=None):
    """One compiled function computing a scalar expression's value and its gradients."""
    from .api import engine_errors
    from .codegen import value_and_grad as _value_and_grad

    with engine_errors("compiling"):
        return _value_and_grad(expr, wrt, declare=declare)


def fit(loss, params, data, **options):
    """Train `params` to minimise `loss` over `data` with derived gradients (see matdiff.optim)."""
    from .optim import fit as _fit

    return _fit(loss, params, data, **options)
