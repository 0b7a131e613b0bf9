"""Label declarations (distributions summing to 1): parsing, synonyms, the check at
evaluation, and the simplifier's use of sum(y) = 1 in the cross-entropy of a softmax."""

import numpy as np
import pytest

import matdiff
from conftest import assert_matches
from matdiff import EvaluationError, MatdiffError

rng = np.random.default_rng(3)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.parametrize(("spec", "ndim", "label"), [
    ("probability vector", 1, ("probability", "all")),
    ("probability vector(k)", 1, ("probability", "all")),
    ("one-hot vector", 1, ("one-hot", "all")),
    ("onehot vector(3)", 1, ("one-hot", "all")),
    ("one hot vector", 1, ("one-hot", "all")),
    ("distribution", 1, ("probability", "all")),
    ("simplex vector", 1, ("probability", "all")),
    ("probability rows", 2, ("probability", "rows")),
    ("one-hot rows(n, k)", 2, ("one-hot", "rows")),
    ("probability matrix", 2, ("probability", "rows")),
    ("one-hot matrix(n, 10)", 2, ("one-hot", "rows")),
    ("row-stochastic matrix", 2, ("probability", "rows")),
    ("column-stochastic matrix(3, 3)", 2, ("probability", "cols")),
    ("probability columns", 2, ("probability", "cols")),
    ("Probability Vector", 1, ("probability", "all")),
])
def test_declarations_and_synonyms(spec, ndim, label) -> None:
    v = matdiff.parse("Y", declare={"Y": spec}).variables["Y"]
    assert v.ndim == ndim
    assert v.attr[2] == label


@pytest.mark.parametrize("spec", ["probability vector(2, 3)", "one-hot rows(n, k, j)",
                                  "probability tensor", "one-hot tensor", "symmetric probability"])
def test_wrong_shape_declarations_are_errors(spec) -> None:
    with pytest.raises(MatdiffError) as info:
        matdiff.parse("Y", declare={"Y": spec})
    assert "Y" in str(info.value)


def test_labels_are_checked_at_evaluation() -> None:
    e = matdiff.parse("x'*y", declare={"y": "probability vector"})
    x = rng.standard_normal(3)
    assert np.isclose(e.evaluate({"x": x, "y": np.array([0.2, 0.3, 0.5])}), x @ [0.2, 0.3, 0.5])
    with pytest.raises(EvaluationError, match="sum to 1"):
        e.evaluate({"x": x, "y": np.array([0.2, 0.3, 0.6])})
    with pytest.raises(EvaluationError, match="negative"):
        e.evaluate({"x": x, "y": np.array([1.2, -0.2, 0.0])})
    hot = matdiff.parse("sum(Y .* X)", declare={"Y": "one-hot rows"})
    X = rng.standard_normal((2, 3))
    assert np.isclose(hot.evaluate({"X": X, "Y": np.eye(3)[[0, 2]]}), X[0, 0] + X[1, 2])
    with pytest.raises(EvaluationError, match="one-hot"):
        hot.evaluate({"X": X, "Y": np.full((2, 3), 1 / 3)})
    cols = matdiff.parse("sum(Y .* X)", declare={"Y": "probability columns"})
    with pytest.raises(EvaluationError, match="each column"):
        cols.evaluate({"X": X, "Y": np.eye(3)[[0, 2]]})


@pytest.mark.parametrize(("text", "wrt", "declare", "printed"), [
    ("-y'*log(softmax(z))", "z", {"y": "probability vector"}, "softmax(z) - y"),
    ("-y'*log(softmax(z))", "z", {"y": "one-hot vector"}, "softmax(z) - y"),
    ("-y'*log(softmax(W*x + b))", "W", {"y": "one-hot vector", "b": "vector"},
     "(softmax(W*x + b) - y)*x'"),
    ("-y'*log(softmax(W*x + b))", "b", {"y": "one-hot vector", "b": "vector"},
     "softmax(W*x + b) - y"),
    ("-y'*log(softmax(z))", "z", None, "sum(y)*softmax(z) - y"),  # no label: no rewrite
])
def test_cross_entropy_of_a_softmax_prints_as_the_textbook(text, wrt, declare, printed) -> None:
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    assert str(d) == printed
    assert d.check() < 1e-6


def test_cross_entropy_gradient_against_the_textbook_form() -> None:
    W, x, b = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    y = np.eye(4)[2]
    d = matdiff.diff("-y'*log(softmax(W*x + b))", wrt="W",
                     declare={"y": "one-hot vector", "b": "vector"})
    want = np.outer(_softmax(W @ x + b) - y, x)
    assert_matches(d.evaluate({"W": W, "x": x, "b": b, "y": y}), want)


def test_row_and_column_sums_of_labelled_matrices() -> None:
    Y = np.eye(3)[[0, 2, 1, 1]]
    X = rng.standard_normal((4, 3))
    d = matdiff.diff("sum(Y .* log(exp(X)))", wrt="X", declare={"Y": "one-hot rows"})
    assert d.check() < 1e-6
    again = matdiff.parse(str(d), declare={"Y": "one-hot rows"})
    assert_matches(again.evaluate({"X": X, "Y": Y}), d.evaluate({"X": X, "Y": Y}))
    # the column sum(Y, 2) spreads over the columns of X when both have m rows, as declared
    d = matdiff.diff("sum(sum(Y, 2) .* X)", wrt="X",
                     declare={"Y": "probability rows(m, q)", "X": "matrix(m, q)"})
    assert str(d) == "matrix(1, size(X, 1), size(X, 2))"
    assert_matches(d.evaluate({"X": X, "Y": Y}), np.ones((4, 3)))
    d = matdiff.diff("a*sum(Y)", wrt="a", declare={"Y": "probability rows"})
    assert np.isclose(d.evaluate({"Y": Y, "a": 1.0}), 4.0)
