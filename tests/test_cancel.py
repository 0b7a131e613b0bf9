"""As short as the textbook (issue 20, section 3): the cancellation rules of
simplify/cancel.py and the printing choices that go with them, each checked for
its printed form and for its value (finite differences)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import matdiff
from matdiff.simplify import simplify_logged

warnings.simplefilter("ignore", matdiff.MatdiffWarning)


def _fired(d) -> set[str]:
    _, log = simplify_logged(d.raw)
    return {f.rule.name for f in log}


@pytest.mark.parametrize("text, wrt, declare, want, rule", [
    # a number times a reciprocal is one quotient
    ("sum(log(x.^2))", "x", {}, "2./x", "power-of-power"),
    ("log(x.^2)", "x", {}, "diag(2./x)", "power-of-power"),
    # the transpose of an inverse sits outside it: inv(X') and inv(X)' collect
    ("tr(inv(X')*A)", "X", {}, "-inv(X)'*A*inv(X)'", "inverse-transpose"),
    # A*inv(A) is the identity inside a product
    ("a'*X*inv(X)*b + a'*X*b", "X", {"a": "vector", "b": "vector"}, "a*b'",
     "inverse-product"),
    # sums along the same axis are one sum
    ("sum(logsumexp(X*W + b', 2)) - sum(sum(Y .* (X*W + b')))", "b", {"b": "vector"},
     "sum(softmax(X*W + b', 2) - Y, 1)'", "collect-sums"),
])
def test_a_cancellation_prints_the_textbook_form(text, wrt, declare, want, rule):
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    assert str(d) == want
    assert rule in _fired(d)
    assert d.check() < 1e-5


def test_a_power_of_a_power_merges_where_that_holds_for_every_base():
    # (x.^-1).^0.5 is x.^-0.5 wherever it is defined (x > 0), so it cancels against x.^1.5
    d = matdiff.diff("sum((x.^-1).^0.5 .* x.^1.5)", wrt="x")
    assert str(d) == "vector(1, numel(x))"
    assert "power-of-power" in _fired(d)
    # (x.^2).^0.5 is abs(x): merging it to x would change its value where x < 0
    e = matdiff.parse("(x.^2).^0.5")
    x = np.array([-2.0, 3.0])
    assert np.allclose(e.evaluate({"x": x}), [2.0, 3.0])
    d = matdiff.diff("sum((x.^2).^0.5)", wrt="x")
    assert np.allclose(d.evaluate({"x": x}), [-1.0, 1.0])
    assert "power-of-power" not in _fired(d)


def test_a_variable_sum_over_its_count_prints_as_its_mean():
    assert str(matdiff.diff("mean(x)^2", wrt="x")) == "2*mean(x)*vector(1, numel(x))/numel(x)"
    assert str(matdiff.diff("mean(x)*y", wrt="y")) == "mean(x)*eye(numel(y))"
    d = matdiff.diff("g'*((x - mean(x))/sqrt(mean((x - mean(x)).^2) + eps))", wrt="x",
                     declare={"eps": "scalar", "g": "vector"})
    assert "sum((x - mean(x)).^2)" not in str(d)
    assert "mean((x - mean(x)).^2)" in str(d)


def test_a_number_spread_over_a_matrix_prints_bare_except_beside_the_identity():
    assert str(matdiff.parse("X*W + matrix(1)")) == "X*W + 1"
    assert str(matdiff.diff("x - mean(x)", wrt="x")) == "eye(numel(x)) - matrix(1)/numel(x)"
    d = matdiff.diff("sum(sum(max(0, X*W - sum(X*W.*Y, 2) + 1)))", wrt="W",
                     declare={"Y": "one-hot rows"})
    assert "matrix(1)" not in str(d)
    assert len(str(d)) < 100


@pytest.mark.parametrize("text, want", [
    ("sum((x - mean(x)).^2)", "2*(x - mean(x))"),
    ("mean((x - mean(x)).^2)", "2*(x - mean(x))/numel(x)"),
    ("norm2(x - mean(x))", "(x - mean(x))/norm2(x - mean(x))"),
])
def test_the_centring_matrix_leaves_a_centred_vector_alone(text, want):
    # (eye - matrix(1)/n)*(x - mean(x)) is x - mean(x): sum(x - mean(x)) is 0 (centred-sum),
    # and of the ways to multiply out, the smallest is kept (distribute)
    d = matdiff.diff(text, wrt="x")
    assert str(d) == want
    assert "centred-sum" in _fired(d)
    assert d.check() < 1e-5
    # a sum along the other axis is not centred, and is left alone
    assert "centred-sum" not in _fired(matdiff.diff("sum(X - mean(X, 2), 1)*v", wrt="v"))



@pytest.mark.parametrize("text, wrt, declare, want", [
    # layer norm: the centring matrix applied to the upstream gradient
    ("g'*((x - mean(x))/sqrt(mean((x - mean(x)).^2) + eps))", "x",
     {"eps": "scalar", "g": "vector"}, "(g - mean(g))/sqrt("),
    # batch norm: the same, multiplied out along the batch axis
    ("sum(sum(G.*((X - mean(X, 1))./sqrt(mean((X - mean(X, 1)).^2, 1) + eps))))", "X",
     {"eps": "scalar"}, "(G - mean(G, 1))*diag("),
    ("g'*(x - mean(x))/norm2(x - mean(x))", "x", {"g": "vector"}, "(g - mean(g))/norm2("),
])
def test_centring_prints_as_the_mean_subtracted(text, wrt, declare, want):
    """(eye - matrix(1)/n)*g is g - mean(g), and G.*r' - mean(G, 1).*r' is
    (G - mean(G, 1)).*r' (the `centring` rule): the value checked against central finite
    differences, every printed text read back."""
    from printed_truth import check_derivative

    d = matdiff.diff(text, wrt=wrt, declare=declare)
    assert str(d).startswith(want), str(d)
    assert "centring" in _fired(d)
    assert "matrix(1)" not in str(d) and "eye" not in str(d)
    assert d.check() < 1e-5
    check_derivative(d)
