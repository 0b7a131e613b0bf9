"""matdiff: the matrix calculus of deep learning, by machine.

    >>> import matdiff
    >>> d = matdiff.diff("x'*A*x", wrt="x")
    >>> print(d)          # the derivative in the text language
    (A + A')*x
    >>> d.evaluate({"x": np.array([1.0, 2.0]), "A": np.eye(2)})
    array([2., 4.])

Public surface: parse, diff, compare, value_and_grad, fit, and the error classes.
Heavy parts (printing, code generation, training) load on first use.
"""

from __future__ import annotations

from .api import Derivative, Expression, parse
from .api import diff as _diff
from .errors import (
    ConstantError,
    EvaluationError,
    MatdiffError,
    MatdiffWarning,
    ParseError,
    ShapeError,
)

__all__ = [
    "parse", "diff", "grad", "compare", "value_and_grad", "fit",
    "Expression", "Derivative",
    "MatdiffError", "ParseError", "ShapeError", "EvaluationError", "ConstantError",
    "MatdiffWarning",
]
__version__ = "0.1.0"


def diff(expr, wrt, declare=None, order=1, of=None):
    """The derivative of `expr` with respect to the variable `wrt`, of any order >= 1.

    Shape: shape(f) followed by shape(wrt) once per order (numerator layout).
    With a list of names (or "W,b"), a `Gradients` mapping each name to its
    Derivative (see `grad`; the backward pass when the function is a scalar).
    `declare` types names while parsing text; given an already-parsed
    Expression, it must agree with the declarations that Expression was parsed
    with (a MatdiffError otherwise: it cannot re-type it).

    Examples:
        >>> d = matdiff.diff("x'*A*x", wrt="x")
        >>> print(d)
        (A + A')*x
        >>> print(matdiff.diff("x'*A*x", wrt="x", declare={"A": "symmetric matrix"}))
        2*A*x
        >>> print(matdiff.diff("x'*A*x", wrt="x", order=2))
        A + A'
        >>> d.evaluate({"x": np.array([1.0, 2.0]), "A": np.array([[1.0, 2.0], [3.0, 4.0]])})
        array([12., 21.])
    """
    if isinstance(wrt, list | tuple) or (isinstance(wrt, str) and "," in wrt):
        return _several(expr, wrt, declare, order, of)
    return _diff(expr, wrt, declare=declare, order=order, of=of)


def _several(expr, wrt, declare, order, of):
    from .gradients import several

    return several(expr, wrt, declare=declare, order=order, of=of)


def grad(f, wrt, declare=None, of=None):
    """Gradients of a scalar function or program; a list of names gives them all at once.

    With one name, a `Derivative` (as `diff`); with a list (or "W1,b1"), a
    `Gradients` mapping each name to its Derivative, whose text is the
    backward pass: one error signal per layer, each line a matdiff assignment
    over the program's names (see docs/programs.md).

    Examples:
        >>> g = matdiff.grad("b: vector; z = W*x + b; h = relu(z); L = sum(h)",
        ...                  wrt=["W", "b"])
        >>> print(g)
        dz = step(z)
        dW = dz*x'
        db = dz
        >>> g["W"].evaluate({"W": np.eye(2), "x": np.array([1.0, -1.0]), "b": np.zeros(2)})
        array([[ 1., -1.],
               [ 0.,  0.]])
    """
    from .gradients import grad as _grad

    return _grad(f, wrt, declare=declare, of=of)


def value_and_grad(expr, wrt, declare=None, of=None, backend=None):
    """One compiled function computing a scalar expression's value and its gradients.

    `wrt` is a name or a list of names; the function takes every variable as a
    keyword argument and returns `(value, gradients)`, the gradients a tuple in
    the order of `wrt` (one array for a single name), sharing one forward pass.

    Examples:
        >>> f = matdiff.value_and_grad("sum((X*w - y).^2)", wrt=["w"])
        >>> value, (gw,) = f(X=np.eye(2), y=np.zeros(2), w=np.array([1.0, 2.0]))
        >>> print(value, gw)
        5.0 [2. 4.]

    A program (see docs/programs.md) computes its forward pass once and every
    gradient from the shared error signals of its backward pass; `of` names
    the assignment that is the function. `backend` (a name in
    `matdiff.codegen.BACKENDS`, as "torch"; None: the library of each call's
    values) picks the array library the generated code runs on.
    """
    from .api import engine_errors
    from .api import value_and_grad as _value_and_grad

    with engine_errors("compiling"):
        return _value_and_grad(expr, wrt, declare=declare, of=of, backend=backend)


def compare(answer, of, wrt, declare=None, order=1, layout="shape", seed=0):
    """Is a hand-derived `answer` the derivative of `of` by `wrt`?

    Returns a Comparison: `equal` (numerically at several random points, and
    `symbolic` when the simplified forms coincide); when not, the likely
    `mistake` (a transpose or the other layout, a sign, a constant factor, a
    missing or extra term, a wrong shape, a relu case split taken for the whole
    sum, a forgotten chain factor, ...), its `diagnosis` and the `point` where
    they differ. `layout="numerator"` compares gradients written as rows.
    `of` may be a program, and the answer use its intermediates. An answer of
    `dNAME = ...` lines (with `wrt` the list of inputs whose gradients it must
    give) is a backward pass: a PassComparison judging each line given the right
    values of the lines before it (`.lines`, `.first_wrong`).

    Examples:
        >>> r = matdiff.compare("2*A*x", of="x'*A*x", wrt="x")
        >>> r.equal, r.mistake
        (False, 'symmetric')
        >>> bool(matdiff.compare("2*A*x", of="x'*A*x", wrt="x",
        ...                      declare={"A": "symmetric matrix"}))
        True
        >>> matdiff.compare("X'*X*w - X'*y", of="0.5*norm2(X*w - y)^2", wrt="w").equal
        True
    """
    from .passcheck import compare as _compare

    return _compare(answer, of, wrt, declare=declare, order=order, layout=layout, seed=seed)


def fit(loss, params, data, **options):
    """Train `params` to minimise the scalar `loss` over `data` with derived gradients.

    `params` maps each trained name to an initial array, a number or an
    initialiser name ("zeros", "normal", "glorot", "he", ...); `data` maps every
    other variable to an array. Options: `optimizer` ("sgd", "momentum", "adam",
    "lbfgs"), `lr`, `epochs`, `batch_size` (None: the whole data each step),
    `seed`, `callback`, `progress`, `declare`, `gradients` ("compiled" or
    "evaluate"; None: the fastest that works) (see `matdiff.optim.fit`).
    Returns a `FitResult` with `.params`, the per-epoch `.history` and `.loss`.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(50, 3))
        >>> y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
        >>> result = matdiff.fit("mean((X*w + b - y).^2)", params={"w": "zeros", "b": 0.0},
        ...                      data={"X": X, "y": y}, optimizer="lbfgs", progress=False)
        >>> print(np.round(result.params["w"], 3), np.round(result.params["b"], 3))
        [ 1.  -2.   0.5] 0.3
    """
    from .optim import fit as _fit

    return _fit(loss, params, data, **options)
