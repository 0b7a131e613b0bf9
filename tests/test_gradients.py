"""matdiff.gradients and matdiff.wrt: several gradients at once, and how `wrt=` is read.

One reading of `wrt` (a name, a list, or "W,b") serves diff, grad,
value_and_grad, compare and fit (src/matdiff/wrt.py); the Gradients mapping
and its backward pass are checked against finite differences here and, for
every kind of program, in tests/test_backward.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import assert_matches, numeric_derivative
from matdiff.wrt import one_wrt, wrt_names
from test_programs import MLP, mlp_numpy, mlp_values

LS = "sum((X*w - y).^2) + sum(b)"
LS_DECLARE = {"b": "vector", "X": "matrix", "w": "vector", "y": "vector"}


def test_grad_with_a_list_is_a_mapping_of_derivatives() -> None:
    g = matdiff.grad(MLP, wrt=["W1", "b1", "W2", "b2"])
    assert list(g) == ["W1", "b1", "W2", "b2"] and len(g) == 4
    v = mlp_values()
    for name, d in g.items():
        assert isinstance(d, matdiff.Derivative) and d.wrt == name
        assert_matches(d.evaluate(v), numeric_derivative(mlp_numpy, v, name), what=name)
    assert isinstance(matdiff.grad(MLP, wrt="W1"), matdiff.Derivative)
    assert list(matdiff.grad(MLP, wrt="W1, b1")) == ["W1", "b1"]


@pytest.mark.parametrize("wrt", [["W1", "W1"], [], ["W1", 3], ["W1", "q"], "W1,,b1"])
def test_bad_wrt_lists(wrt) -> None:
    with pytest.raises(matdiff.MatdiffError):
        matdiff.grad(MLP, wrt=wrt)


# --------------------------------------------------------------------------- reading wrt

@pytest.mark.parametrize(("wrt", "names"), [
    ("W", ["W"]), (" W ", ["W"]), ("W,b", ["W", "b"]), ("W, b", ["W", "b"]),
    (["W", "b"], ["W", "b"]), (("W",), ["W"]), (["W,b", "c"], ["W", "b", "c"]),
])
def test_wrt_names_reads_a_name_a_list_or_commas(wrt, names) -> None:
    assert wrt_names(wrt) == names


@pytest.mark.parametrize(("wrt", "words"), [
    ("", "empty name"), ("W,,b", "empty name"), ([], r"not \[\]"), (["W", 3], "list of them"),
    (5, "not 5"), (None, "not None"), ("W,W", "'W' twice"), (["W", "W"], "'W' twice"),
])
def test_bad_wrt_is_one_error_wording_everywhere(wrt, words) -> None:
    with pytest.raises(matdiff.MatdiffError, match=words):
        wrt_names(wrt)
    for call in (lambda: matdiff.value_and_grad(LS, wrt=wrt, declare=LS_DECLARE),
                 lambda: matdiff.grad(LS, wrt=wrt, declare=LS_DECLARE)):
        with pytest.raises(matdiff.MatdiffError, match=words):
            call()


def test_one_wrt_refuses_several_names() -> None:
    assert one_wrt(" x ") == "x"
    with pytest.raises(matdiff.MatdiffError, match="one variable, not W, b"):
        one_wrt("W,b")
    with pytest.raises(matdiff.MatdiffError, match="one variable"):
        matdiff.compare("2*X'*(X*w - y)", of=LS, wrt="w,b", declare=LS_DECLARE)


def test_value_and_grad_reads_commas_as_diff_and_grad_do() -> None:
    """value_and_grad(..., wrt="w,b") once refused what grad(..., wrt="w,b") took."""
    rng = np.random.default_rng(0)
    v = {"X": rng.normal(size=(4, 3)), "w": rng.normal(size=3), "y": rng.normal(size=4),
         "b": rng.normal(size=2)}
    value, grads = matdiff.value_and_grad(LS, wrt="w,b", declare=LS_DECLARE)(**v)
    listed = matdiff.value_and_grad(LS, wrt=["w", "b"], declare=LS_DECLARE)(**v)
    assert value == pytest.approx(listed[0]) and len(grads) == 2
    for got, want in zip(grads, listed[1], strict=True):
        np.testing.assert_allclose(got, want)
    g = matdiff.grad(LS, wrt="w,b", declare=LS_DECLARE)
    d = matdiff.diff(LS, wrt="w, b", declare=LS_DECLARE)
    assert list(g) == list(d) == ["w", "b"]
    np.testing.assert_allclose(grads[0], g["w"].evaluate(v))
