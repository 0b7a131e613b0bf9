"""Kinds from use before the first letter (language/kinds.py, docs/language.md "Types").

An undeclared name's kind comes from the operators around it and from the goal (a loss
is a scalar); its first letter decides only what the use leaves open. What was inferred
is reported with the use that decided: `assumptions`, `assumption_reasons`, the
MatdiffWarning, the command line's stderr line, the web page's note, and also when
typing then fails.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import matdiff
from conftest import check_derivative
from matdiff.cli import main


def parsed(text, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)
        return matdiff.parse(text, **kw)


@pytest.mark.parametrize(("text", "name", "kind", "why"), [
    ("x*z", "z", "scalar", "its use with '*' at column 2"),      # the article's x z
    ("sum(x*z)", "z", "scalar", "its use with '*'"),
    ("x / z", "z", "scalar", "a divisor after '/' at column 3"),
    ("2*x/N", "N", "scalar", "a divisor after '/'"),
    ("sum((y - max(0, X*w + b)).^2)/N", "N", "scalar", "a divisor after '/'"),
    ("[log(x^2); sin(3*x)]", "x", "scalar", "its use with '^'"),  # the vector chain rule
    ("inv(x)", "x", "matrix", "its use in inv()"),
    ("x - x'", "x", "scalar", "its use rules out a vector"),
])
def test_a_kind_comes_from_use(text, name, kind, why):
    with pytest.warns(matdiff.MatdiffWarning, match=f"{name}: {kind} \\("):
        e = matdiff.parse(text)
    assert e.assumptions[name] == kind
    assert why in e.assumption_reasons[name], e.assumption_reasons
    if e.shape == ():
        record = quiet_diff(text, name).to_dict()
        assert why in record["assumption_reasons"][name]


def test_the_first_letter_decides_what_use_leaves_open():
    e = parsed("x*z")
    assert e.assumption_reasons["x"] == "first letter" and e.assumptions["x"] == "vector"
    assert e.shape == e.variables["x"].shape
    e = parsed("A*x + b")
    assert e.assumptions == {"A": "matrix", "x": "vector", "b": "scalar"}
    assert set(e.assumption_reasons.values()) == {"first letter"}


def test_scalar_expansion_of_the_article_is_right():
    x = np.array([1.0, -2.0, 0.5])
    check_derivative("x*z", "z", {"x": x, "z": 1.5}, lambda v: v["x"] * v["z"])
    check_derivative("x*z", "x", {"x": x, "z": 1.5}, lambda v: v["x"] * v["z"])
    check_derivative("sum(x*z)", "z", {"x": x, "z": 1.5}, lambda v: np.sum(v["x"] * v["z"]),
                     order=2)
    check_derivative("2*x/N", "x", {"x": x, "N": 4.0}, lambda v: 2 * v["x"] / v["N"])


def test_a_loss_is_a_scalar_and_types_its_weight():
    loss = "-sum(Y .* log(softmax(X*W, 2)))/N + reg*sum(W.^2)"
    with pytest.warns(matdiff.MatdiffWarning, match="reg: scalar \\(a loss is a scalar"):
        g = matdiff.grad(loss, wrt="W")
    assert g.function.shape == ()
    assert g.function.assumptions["reg"] == "scalar"
    assert g.shape == g.function.variables["W"].shape  # a gradient, not a 3-tensor
    assert g.check() < 1e-6
    # diff is not told the goal: reg keeps its first letter there (a vector loss)
    assert parsed(loss).assumptions["reg"] == "vector"
    f = matdiff.value_and_grad(loss, wrt="W")
    r = np.random.default_rng(0)
    Y = np.eye(3)[[0, 2, 1, 0]]
    values = {"X": r.normal(size=(4, 2)), "W": r.normal(size=(2, 3)), "Y": Y, "N": 4.0,
              "reg": 0.1}
    value, grad = f(**values)
    assert np.allclose(grad, g.evaluate(values))


@pytest.mark.parametrize("loss", ["relu(W*x)", "X*w - y"])
def test_a_loss_never_makes_what_is_inside_a_call_or_a_capital_a_scalar(loss):
    # the goal types a weight added to the loss (reg: scalar) ...
    assert quiet_grad("sum(W.^2) + reg*sum(W)", "W").function.assumptions["reg"] == "scalar"
    # ... but not what is inside a call, nor a capital's matrix: these are no scalar losses
    with pytest.raises(matdiff.MatdiffError, match="scalar"):
        quiet_grad(loss, ["w" if "w" in loss else "W"])


def quiet_grad(text, wrt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)
        return matdiff.grad(text, wrt=wrt)


def test_declarations_win_and_shape_errors_of_declared_kinds_stay():
    assert parsed("x*z").assumptions["z"] == "scalar"  # undeclared: from its use
    with pytest.raises(matdiff.ShapeError, match="cannot multiply"):
        matdiff.parse("x*z", declare={"x": "vector", "z": "vector"})
    e = matdiff.parse("x*z", declare={"x": "vector", "z": "scalar"})
    assert e.assumptions == {}


def test_the_assumptions_are_reported_also_when_typing_fails(capsys):
    with pytest.warns(matdiff.MatdiffWarning, match="assuming x: vector, y: vector"):
        with pytest.raises(matdiff.ShapeError) as info:
            matdiff.parse("[x; y] + x")
    assert info.value.assumptions == {"x": "vector", "y": "vector"}
    assert main(["diff", "[x; y] + x", "--wrt", "x"]) == 2
    err = capsys.readouterr().err
    assert "matdiff: assuming x: vector, y: vector (first letter)" in err
    assert "matdiff: error:" in err


def test_the_web_page_shows_the_assumptions_of_a_failed_parse():
    from matdiff.web.compute import answer

    status, body = quiet_answer(answer, {"expression": "[x; y] + x", "wrt": "x"})
    assert status == 400
    assert "assuming x: vector, y: vector (first letter)" in body["error"]["assumptions_text"]


def quiet_diff(text, wrt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)
        return matdiff.diff(text, wrt=wrt)


def quiet_answer(fn, payload):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)
        return fn(payload)


def test_the_command_line_and_the_web_page_say_why(capsys):
    from matdiff.web.compute import derive

    assert main(["diff", "2*x/N", "--wrt", "x"]) == 0
    assert "N: scalar (a divisor after '/' at column 4)" in capsys.readouterr().err
    answer = derive({"expression": "x*z", "wrt": "z"})
    assert answer["assumptions"]["z"] == "scalar"
    assert "z: scalar (its use with '*'" in answer["assumptions_text"]


def test_programs_take_kinds_from_use_across_lines():
    g = matdiff.grad("h = x*s\nL = sum(h)/N", wrt=["x"])
    assert g.function.assumptions["s"] == "scalar" and g.function.assumptions["N"] == "scalar"
    assert g["x"].check() < 1e-6


def test_inference_is_linear_in_long_inputs():
    import time

    text = " + ".join(f"x{k}*z{k}" for k in range(1500))
    start = time.perf_counter()
    e = parsed(text)
    assert time.perf_counter() - start < 5.0
    assert e.assumptions["z1499"] == "scalar"


@pytest.mark.parametrize(("text", "wrt", "printed"), [
    ("x*z", "x", "z*eye(numel(x))"),            # the article: diag(1 z) = I z
    ("x*z", "z", "x"),
    ("sum(x*z)", "z", "sum(x)"),
    ("sum(x*z)", "x", "z*vector(1, numel(x))"),
    ("x / z", "z", "-x/z^2"),
    ("sum((y - max(0, X*w + b)).^2)/N", "b", "2*(max(0, X*w + b) - y)'*step(X*w + b)/N"),
])
def test_the_article_examples_need_no_declarations(text, wrt, printed):
    d = quiet_diff(text, wrt)
    assert str(d) == printed
    assert d.check() < 1e-6
