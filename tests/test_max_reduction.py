"""max(x) and min(x) of a vector, mean(X, d) printed as itself, the factored cross-entropy.

max(x) and min(x) are reductions (one argument); max(a, b) stays element-wise.
The gradient goes to the extreme entry, a tie split evenly, and is printed as
eq(x, max(x))/sum(eq(x, max(x))): text that parses back to the same numbers,
ties included. Values and derivatives away from ties are checked against
finite differences in test_op_rows.py; here: ties, the printed text, the
errors, the compiled code on every installed backend, and the printers.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import assert_matches, fd_jacobian
from matdiff.errors import MatdiffError, ShapeError

B = {"b": "vector"}


def _round_trip(d, values, declare=None) -> None:
    text = str(d)
    back = matdiff.parse(text, declare=declare).evaluate(values)
    assert_matches(back, d.evaluate(values), what=f"{text} parsed back")


# ---------------------------------------------------------------- ties

@pytest.mark.parametrize(("text", "x", "want"), [
    ("max(x)", [1.0, 3.0, 3.0], [0.0, 0.5, 0.5]),
    ("max(x)", [2.0, 2.0, 2.0, 2.0], [0.25] * 4),
    ("max(x)", [-1.0, 4.0, 0.5], [0.0, 1.0, 0.0]),
    ("min(x)", [1.0, 3.0, 1.0], [0.5, 0.0, 0.5]),
    ("min(x)", [0.0, -2.0, 5.0], [0.0, 1.0, 0.0]),
])
def test_the_gradient_goes_to_the_extreme_entry_and_ties_split_evenly(text, x, want) -> None:
    d = matdiff.diff(text, wrt="x")
    values = {"x": np.array(x)}
    assert_matches(d.evaluate(values), np.array(want), what=f"d {text}")
    assert_matches(d.compile()(**values), np.array(want), what=f"compiled d {text}")
    _round_trip(d, values)


def test_the_second_derivative_is_zero() -> None:
    h = matdiff.diff("max(x) - 2*min(x)", wrt="x", order=2)
    assert np.all(h.evaluate({"x": np.array([0.3, -1.0, 2.0])}) == 0.0)


def test_a_tie_inside_a_sum_is_found_exactly() -> None:
    """max(W*x + b): the arg-max is found however W*x + b rounds (step(max(z) - z) of the
    regrouped max(W*x + b) - W*x - b would miss it): the weights always sum to 1."""
    d = matdiff.diff("max(W*x + b)", wrt="b", declare=B)
    rng = np.random.default_rng(5)
    for _ in range(50):
        values = {"W": rng.uniform(-1, 1, (4, 3)), "x": rng.uniform(-1, 1, 3),
                  "b": rng.uniform(-1, 1, 4)}
        g = d.evaluate(values)
        assert g.sum() == pytest.approx(1.0) and np.count_nonzero(g) == 1
        assert np.argmax(g) == np.argmax(values["W"] @ values["x"] + values["b"])
        _round_trip(d, values, B)
    values = {"W": np.zeros((3, 2)), "x": np.ones(2), "b": np.array([0.7, 0.7, 0.1])}
    assert_matches(d.evaluate(values), np.array([0.5, 0.5, 0.0]), what="a tie in b")


@pytest.mark.parametrize(("text", "wrt", "declare"), [
    ("max(W*x + b)", "W", B), ("max(W*x + b)", "x", B), ("min(X*w) - max(w)", "w", None),
    ("log(sum(exp(x - max(x)))) + max(x)", "x", None), ("sum(exp(x - max(x)))", "x", None),
    ("max(x')*min(y)", "y", None),
])
def test_in_the_chain_rule_against_finite_differences_and_printed(text, wrt, declare) -> None:
    f = matdiff.parse(text, declare=declare)
    rng = np.random.default_rng(1)
    values = {name: rng.uniform(-1, 1, [3 if isinstance(s, str) else s for s in v.shape])
              for name, v in f.variables.items()}
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    want = fd_jacobian(lambda t: f.evaluate({**values, wrt: t}), values[wrt])
    assert_matches(d.evaluate(values), want, what=f"d {text}/d{wrt}")
    _round_trip(d, values, declare)
    report = d.check_steps(values)  # every step of the explanation holds, its text parses
    assert report.ok, str(report)


def test_logsumexp_written_with_the_maximum_shifted_out() -> None:
    """The stable longhand m + log(sum(exp(x - m))) has the gradient softmax(x)."""
    text = "max(x) + log(sum(exp(x - max(x))))"
    x = np.array([1000.0, 999.0, 1001.5])
    value = matdiff.parse(text).evaluate({"x": x})
    assert value == pytest.approx(1001.5 + np.log(np.sum(np.exp(x - 1001.5))))
    g = matdiff.diff(text, wrt="x").evaluate({"x": x})
    assert_matches(g, np.exp(x - 1001.5) / np.sum(np.exp(x - 1001.5)), what="gradient")


# ---------------------------------------------------------------- the language

def test_two_arguments_stay_element_wise() -> None:
    x, y = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, 0.5])
    assert_matches(matdiff.parse("max(x, y)").evaluate({"x": x, "y": y}), np.maximum(x, y))
    assert_matches(matdiff.parse("max(0, x)").evaluate({"x": x}), np.maximum(0.0, x))
    assert_matches(matdiff.parse("min(x)").evaluate({"x": x}), -2.0)
    assert_matches(matdiff.parse("max(x')").evaluate({"x": x}), 3.0)


@pytest.mark.parametrize(("text", "column", "words"), [
    ("max(X)", 1, ["max() of one argument takes a vector", "matrix", "max(a, b)",
                   "max(X, [], 2)", "is not supported"]),
    ("exp(min(2*X))", 5, ["min() of one argument takes a vector", "min(X, [], 2)"]),
    ("x + max(a)", 5, ["takes a vector, not a scalar", "max(a, b) of two is element-wise"]),
])
def test_a_matrix_or_a_scalar_is_an_error_at_its_position(text, column, words) -> None:
    declare = {n: k for n, k in {"X": "matrix", "x": "vector", "a": "scalar"}.items()
               if n in text}  # undeclared, a name's kind would come from this use
    with pytest.raises(ShapeError) as info:
        matdiff.parse(text, declare=declare)
    assert info.value.column == column
    for w in words:
        assert w in str(info.value), str(info.value)


@pytest.mark.parametrize("text, words", [
    ("max()", r"takes 1 to 3 arguments"), ("max(X, [], 2, 1)", r"takes 1 to 3 arguments"),
    ("min(x, y, z)", r"min\(X, \[\], d\)"), ("max(X, [], 3)", r"axis of max\(X, \[\], d\)"),
    ("max(a, [], 1)", "not a scalar"), ("[] + x", r"\[\] \(the empty matrix\) stands only"),
])
def test_argument_counts(text, words) -> None:
    with pytest.raises(MatdiffError, match=words):
        matdiff.parse(text, declare={"a": "scalar"} if "a" in text else None)


def test_eq_is_one_where_equal() -> None:
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    assert_matches(matdiff.parse("eq(x, y)").evaluate({"x": x, "y": y}), [1.0, 0.0, 1.0])
    assert_matches(matdiff.parse("eq(x, 2)").evaluate({"x": x}), [0.0, 1.0, 0.0])
    assert np.all(matdiff.diff("sum(eq(x, y))", wrt="x").evaluate({"x": x, "y": y}) == 0.0)


# ---------------------------------------------------------------- printers

def test_printed_as_max_in_text_and_latex() -> None:
    f = matdiff.parse("max(x) - min(x)")
    assert f.to_text() == "max(x) - min(x)"
    assert r"\max\left(x\right)" in f.latex() and r"\min\left(x\right)" in f.latex()
    d = matdiff.diff("max(x)", wrt="x")
    assert str(d) == "eq(x, max(x))/sum(eq(x, max(x)))"
    assert r"\operatorname{eq}\left(x, \max\left(x\right)\right)" in d.latex()


def test_the_explanation_names_the_rule() -> None:
    d = matdiff.diff("max(W*x + b)", wrt="W", declare=B)
    assert "max reduction rule" in d.explain()
    assert "tie split evenly" in d.explain()


# ---------------------------------------------------------------- compiled, every backend

def _backends():
    out = ["numpy"]
    for name in ("torch", "jax"):
        try:
            __import__(name)
            out.append(name)
        except ImportError:  # pragma: no cover - the backends extra not installed
            pass
    return out


@pytest.mark.parametrize("backend", _backends())
def test_compiled_on_each_backend_splits_ties(backend) -> None:
    d = matdiff.diff("max(W*x + b)", wrt="b", declare=B)
    values = {"W": np.zeros((3, 2)), "x": np.ones(2), "b": np.array([0.7, 0.1, 0.7])}
    if backend == "torch":
        import torch
        args = {k: torch.as_tensor(v) for k, v in values.items()}
    elif backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        args = {k: jax.numpy.asarray(v) for k, v in values.items()}
    else:
        args = values
    got = d.compile(backend=backend)(**args)
    got = got.cpu().numpy() if hasattr(got, "cpu") else np.asarray(got)
    assert_matches(got, np.array([0.5, 0.0, 0.5]), what=f"on {backend}")
    source = d.source(backend=backend)
    assert {"numpy": "np.max(", "torch": "xp.max(", "jax": "xp.max("}[backend] in source


# ---------------------------------------------------------------- mean(X, d) printed as itself

@pytest.mark.parametrize(("text", "printed"), [
    ("mean(X, 2)", "mean(X, 2)"), ("mean(X, 1)", "mean(X, 1)"),
    ("sum(X, 2)/size(X, 2)", "mean(X, 2)"), ("X - mean(X, 2)", "X - mean(X, 2)"),
    ("X - mean(X, 1)", "X - mean(X, 1)"), ("-mean(X, 2)/3", "-mean(X, 2)/3"),
    ("mean(X', 2)", "mean(X, 1)'"), ("mean(X + Y, 1)", "mean(X + Y, 1)"),
])
def test_mean_along_an_axis_prints_as_mean(text, printed) -> None:
    f = matdiff.parse(text)
    assert f.to_text() == printed
    assert r"\operatorname{mean}" in f.latex()
    rng = np.random.default_rng(2)
    values = {"X": rng.uniform(-1, 1, (2, 3)), "Y": rng.uniform(-1, 1, (2, 3))}
    values = {k: v for k, v in values.items() if k in f.variables}
    assert_matches(matdiff.parse(printed).evaluate(values), f.evaluate(values), what=printed)


def test_a_centred_gradient_prints_the_mean() -> None:
    d = matdiff.diff("sum((X - mean(X, 2)).^2)", wrt="X")
    assert str(d) == "2*(X - mean(X, 2))"  # the textbook form (centred-sum, simplify/cancel.py)
    values = {"X": np.random.default_rng(3).uniform(-1, 1, (3, 4))}
    _round_trip(d, values)


# ---------------------------------------------------------------- the factored cross-entropy

@pytest.mark.parametrize("text", ["sum(-Y .* logsoftmax(X*W, 2))",
                                  "-sum(Y.*log(softmax(X*W,2)))"])
def test_the_summed_cross_entropy_prints_factored(text) -> None:
    declare = {"Y": "one-hot rows"}
    d = matdiff.diff(text, wrt="W", declare=declare)
    assert str(d) == "X'*(softmax(X*W, 2) - Y)"
    rng = np.random.default_rng(4)
    values = {"X": rng.uniform(-1, 1, (5, 3)), "W": rng.uniform(-1, 1, (3, 4)),
              "Y": np.eye(4)[rng.integers(0, 4, 5)]}
    _round_trip(d, values, declare)
