"""Implicit expansion with orientation, axis sums and means, size(X, d): values against
NumPy, derivatives against finite differences, printed text that parses back, errors."""

import numpy as np
import pytest

import matdiff
from conftest import assert_matches, check_derivative
from matdiff import MatdiffError, ShapeError

rng = np.random.default_rng(7)
X = rng.standard_normal((4, 3))
W = rng.standard_normal((3, 2))
S = rng.standard_normal((3, 3))
V = {"X": X, "W": W, "S": S, "v": rng.standard_normal(2), "u": rng.standard_normal(4),
     "r": rng.standard_normal(3), "a": 0.7}
# A plain vector expands over the columns of a matrix only when its length is known to be
# the matrix's row count: these sizes say so (m rows of X, q rows of S).
SIZES = {"X": "matrix(m, q)", "u": "vector(m)", "S": "matrix(q, q)", "r": "vector(q)"}


@pytest.mark.parametrize(("text", "want"), [
    ("X*W + v'", X @ W + V["v"]),
    ("v' + X*W", X @ W + V["v"]),
    ("X*W - v'", X @ W - V["v"]),
    ("X + u", X + V["u"][:, None]),
    ("u - X", V["u"][:, None] - X),
    ("X .* r'", X * V["r"]),
    ("X ./ exp(u)", X / np.exp(V["u"])[:, None]),
    ("X.^2 + r' + u + a", X ** 2 + V["r"] + V["u"][:, None] + 0.7),
    ("max(X, r')", np.maximum(X, V["r"])),
    ("min(u, X)", np.minimum(V["u"][:, None], X)),
    ("X*W + vector(1)*v'", X @ W + V["v"]),
    ("S + r'", S + V["r"]),
    ("S + r", S + V["r"][:, None]),
    ("sum(X, 1)", X.sum(0)), ("sum(X, 2)", X.sum(1)),
    ("mean(X, 1)", X.mean(0)), ("mean(X, 2)", X.mean(1)),
    ("sum(X)", X.sum()), ("mean(X)", X.mean()),
    ("sum(u, 1)", V["u"].sum()), ("sum(u, 2)", V["u"]), ("sum(r', 1)", V["r"]),
    ("sum(r', 2)", V["r"].sum()), ("mean(u, 1)", V["u"].mean()), ("sum(a, 2)", 0.7),
    ("X - mean(X, 1)", X - X.mean(0)),
    ("X - mean(X, 2)", X - X.mean(1)[:, None]),
    ("size(X, 1) + 10*size(X, 2)", 34.0), ("size(u, 1)", 4.0), ("size(u, 2)", 1.0),
])
def test_values_and_printed_text_round_trip(text, want) -> None:
    e = matdiff.parse(text, declare=SIZES)
    assert_matches(e.evaluate(V), want)
    again = matdiff.parse(str(e), declare=SIZES)
    assert_matches(again.evaluate(V), want, what=f"{text} printed as {e}")


@pytest.mark.parametrize(("text", "printed"), [
    ("X*W + v'", "X*W + v'"),
    ("X*W + vector(1)*v'", "X*W + v'"),
    ("tanh(X*W + v')", "tanh(X*W + v')"),
    ("X + u", "X + u"),
    ("X*W - 2*v'", "X*W - 2*v'"),
    ("vector(1)*v'", "vector(1)*v'"),
])
def test_printed_form_keeps_the_orientation(text, printed) -> None:
    assert str(matdiff.parse(text, declare=SIZES)) == printed


@pytest.mark.parametrize(("text", "wrt"), [
    ("sum(tanh(X*W + v'))", "v"), ("sum(tanh(X*W + v'))", "W"), ("sum(tanh(X*W + v'))", "X"),
    ("sum((X + u).^2)", "u"), ("sum(X .* r', 1)*r", "r"), ("sum(sigmoid(X), 2)", "X"),
    ("mean(X.^2, 1)*r", "X"), ("sum(exp(X - mean(X, 2)), 1)*r", "X"),
    ("sum(max(X, r').^2)", "r"),
])
def test_derivatives_match_finite_differences(text, wrt) -> None:
    d = matdiff.diff(text, wrt=wrt, declare=SIZES)
    assert d.check(values=V) < 1e-6, (text, str(d))
    if len(d.shape) > 2:
        return  # index notation: a 3-tensor has no text in the language
    again = matdiff.parse(str(d), declare=SIZES)  # the printed derivative is the derivative
    assert_matches(again.evaluate(V), d.evaluate(V), what=f"{text} wrt {wrt}: {d}")


def test_bias_gradient_against_numpy() -> None:
    def f(vals):
        return np.sum(np.tanh(vals["X"] @ vals["W"] + vals["v"]))
    check_derivative("sum(tanh(X*W + v'))", "v", V, f)
    check_derivative("sum(tanh(X*W + v'))", "v", V, f, order=2)


@pytest.mark.parametrize(("text", "declare", "needles"), [
    ("X*W + v", {"X": "matrix(4, 3)", "W": "matrix(3, 2)", "v": "vector(2)"},
     ["vector (2)", "matrix (4 x 2)", "transposed"]),
    ("X + u'", {"X": "matrix(4, 3)", "u": "vector(4)"}, ["row vector", "transposed"]),
    ("x + y'", {"x": "vector", "y": "vector"}, ["row vector", "outer product"]),
    ("X + u", {"X": "matrix(4, 3)", "u": "vector(5)"}, ["vector (5)", "matrix (4 x 3)"]),
    ("x + A", {"x": "vector", "A": "matrix"}, ["vector (n)", "matrix (m x p)", "row count"]),
    ("W*X + b", {"b": "vector"}, ["not known to be the matrix's row count", "vector(m)"]),
    # a bias meant for every row: the fix named first is b' (not a column spread)
    ("X*W + b", {"b": "vector"}, ["write b' to add it to every row", "X*W + b'"]),
    ("b + X*W", {"b": "vector"}, ["write b' to add it to every row"]),
])
def test_expansion_errors_say_which_orientation_would_work(text, declare, needles) -> None:
    with pytest.raises(ShapeError) as info:
        matdiff.parse(text, declare=declare)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    if text in ("X + u", "x + A"):
        assert "transposed" not in message  # neither orientation fits: no false hint
    assert info.value.line == 1 and info.value.column is not None


@pytest.mark.parametrize("text", ["sum(X, 3)", "sum(X, 0)", "mean(X, a)", "sum(X, 1.5)",
                                  "sum(X, -1)", "size(X, 3)", "mean(X, 1, 2)"])
def test_bad_axes_are_errors_with_a_position(text) -> None:
    with pytest.raises(MatdiffError) as info:
        matdiff.parse(text)
    assert info.value.line == 1 and info.value.column is not None
