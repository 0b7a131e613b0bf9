"""declare= with an already-parsed Expression: used where it agrees, an error where it re-types.

`declare` types names while parsing. `diff` and `value_and_grad` given an
Expression (parsed already) accept declarations that agree with those it was
parsed with, and raise a MatdiffError naming the names otherwise: before, a
different declaration was ignored silently.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff

SYM = {"A": "symmetric matrix"}


def test_the_same_declarations_are_accepted() -> None:
    f = matdiff.parse("x'*A*x", declare=SYM)
    assert str(matdiff.diff(f, "x", declare=SYM)) == "2*A*x"
    assert str(matdiff.diff(f, "x", declare={"A": "Symmetric  Matrix"})) == "2*A*x"
    assert str(matdiff.diff(f, "x")) == "2*A*x"  # no declare: the Expression's own types


def test_a_declaration_that_would_retype_is_an_error() -> None:
    f = matdiff.parse("x'*A*x", declare={"x": "vector"})
    with pytest.raises(matdiff.MatdiffError, match=r"cannot re-type.*A undeclared"):
        matdiff.diff(f, "x", declare=SYM)
    g = matdiff.parse("x'*A*x", declare=SYM)
    with pytest.raises(matdiff.MatdiffError, match=r"A: symmetric matrix when it was parsed"):
        matdiff.diff(g, "x", declare={"A": "matrix"})


def test_value_and_grad_follows_the_same_rule() -> None:
    f = matdiff.parse("sum((X*w - y).^2)", declare={"y": "vector"})
    vg = matdiff.value_and_grad(f, ["w"], declare={"y": "vector"})
    value, (g,) = vg(X=np.eye(2), w=np.array([1.0, 2.0]), y=np.zeros(2))
    assert value == 5.0 and np.allclose(g, [2.0, 4.0])
    with pytest.raises(matdiff.MatdiffError, match="cannot re-type"):
        matdiff.value_and_grad(f, ["w"], declare={"w": "matrix"})


def test_text_with_declare_is_unchanged() -> None:
    assert str(matdiff.diff("x'*A*x", "x", declare=SYM)) == "2*A*x"
    with pytest.raises(matdiff.MatdiffError, match="dict of name"):
        matdiff.diff(matdiff.parse("x'*x"), "x", declare=["x"])
