"""A single expression's gradients by several inputs print over its named pre-activations:
each error signal once (`dz1 = (dz2*W2').*(1 - tanh(z1).^2)`), read by every gradient
through it (`dW1 = X'*dz1`, `db1 = sum(dz1, 1)'`), the pre-activations defined in the
printed text itself so it still evaluates from the inputs alone (issue 23)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matdiff
from matdiff.ir.expr import variables
from printed_truth import check_backward, values_for
from printing_support import RECT_DECLARE, rectangular_expressions

pytestmark = pytest.mark.filterwarnings("ignore::matdiff.MatdiffWarning")

MLP = {"X": "matrix(n, p)", "W1": "matrix(p, h)", "b1": "vector(h)", "W2": "matrix(h, k)",
       "b2": "vector(k)", "Y": "matrix(n, k)"}
NETS = [
    ("sum(sum((tanh(X*W1 + b1')*W2 - Y).^2))", ["W1", "b1", "W2"]),
    ("-sum(sum(Y .* logsoftmax(relu(X*W1 + b1')*W2 + b2', 2)))/size(X, 1)",
     ["W1", "b1", "W2", "b2"]),
    ("sum(logsumexp(sigmoid(X*W1 + b1')*W2 + b2', 2))", ["W1", "b1", "W2", "b2"]),
]


def _lines(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.splitlines())


@pytest.mark.parametrize(("text", "wrt"), NETS)
def test_each_error_signal_is_printed_once_and_read_by_every_gradient(text, wrt):
    g = matdiff.grad(text, wrt=wrt, declare=MLP)
    lines = _lines(g.to_text())
    assert lines["z1"] == "X*W1 + b1'"
    # the pre-activation's error signal: one line, read by both gradients through it
    assert lines["dW1"] == "X'*dz1" and lines["db1"] == "sum(dz1, 1)'"
    backward = [v for k, v in lines.items() if k.startswith("d")]
    assert not any("X*W1" in v for v in backward)  # no pre-activation written out again
    check_backward(g)
    values = values_for(g.function.variables)
    for name in wrt:  # against forward mode, derived on its own
        want = matdiff.diff(text, wrt=name, declare=MLP).evaluate(values)
        assert np.allclose(g[name].evaluate(values), want, rtol=1e-8, atol=1e-10)


def test_the_explanation_and_latex_define_the_pre_activations():
    g = matdiff.grad(NETS[0][0], wrt=NETS[0][1], declare=MLP)
    steps = g.explain().splitlines()
    assert steps[1] == "1. z1 = X*W1 + b1'"
    assert "pre-activation z1" in steps[2] and "dz1" in steps[2]
    assert "z_{1} &= " in g.latex() or "z_1 &= " in g.latex()


def test_nothing_shared_keeps_the_one_line_pass():
    g = matdiff.grad("sum(tanh(X*w))", wrt=["w"], declare={"X": "matrix", "w": "vector"})
    assert g.to_text() == "dw = X'*(1 - tanh(X*w).^2)"
    g = matdiff.grad("a*sum(x) + b", wrt=["a", "b"])
    assert "z1" not in g.to_text()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_printed_passes_of_random_expressions_by_several_inputs_are_true(data):
    """Random scalar expressions over every declaration kind, all their inputs at once: the
    printed pass (pre-activations named or not) evaluates to forward mode's gradients."""
    text = data.draw(rectangular_expressions("s", 3), label="expression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = matdiff.parse(text, RECT_DECLARE)
    wrt = sorted(variables(e.ir))
    if len(wrt) < 2:
        return
    g = matdiff.grad(text, wrt=wrt, declare=RECT_DECLARE)
    check_backward(g)
    values = values_for(g.function.variables)
    program = g.program_text()
    for name in wrt:
        line = g.names()[name]
        got = matdiff.parse(program, of=line).evaluate(values)
        want = matdiff.diff(text, wrt=name, declare=RECT_DECLARE).evaluate(values)
        assert np.allclose(np.asarray(got, float).reshape(np.shape(want)), want,
                           rtol=1e-7, atol=1e-9), (text, name, program)
    for name in re.findall(r"^(z\d+_*) = ", g.to_text(), re.M):
        assert f"d{name} = " in g.to_text()  # a named pre-activation carries its signal


_ACTS = ["tanh({})", "relu({})", "sigmoid({})", "softplus({})", "({}).^2", "exp({})",
         "softmax({}, 2)", "abs({})"]
_LOSSES = ["sum(sum(({} - Y).^2))", "sum(logsumexp({}, 2))",
           "-sum(sum(Y .* logsoftmax({}, 2)))", "sum(sum(tanh({})))", "sum(sum({} .* Y))"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_networks_print_each_signal_once_and_true(data):
    """Two layers with a random activation and loss, biases or not, any two or more of the
    parameters: the printed pass is true, and no line after the forward ones writes the
    first pre-activation out again."""
    bias1, bias2 = data.draw(st.booleans(), label="b1"), data.draw(st.booleans(), label="b2")
    act = data.draw(st.sampled_from(_ACTS), label="activation")
    loss = data.draw(st.sampled_from(_LOSSES), label="loss")
    z1 = "X*W1" + (" + b1'" if bias1 else "")
    z2 = act.format(z1) + "*W2" + (" + b2'" if bias2 else "")
    text = loss.format(z2)
    params = ["W1", "W2"] + ["b1"] * bias1 + ["b2"] * bias2
    wrt = data.draw(st.lists(st.sampled_from(params), min_size=2, max_size=4, unique=True),
                    label="wrt")
    g = matdiff.grad(text, wrt=wrt, declare=MLP)
    check_backward(g)
    values = values_for(g.function.variables)
    for name in wrt:
        want = matdiff.diff(text, wrt=name, declare=MLP).evaluate(values)
        assert np.allclose(g[name].evaluate(values), want, rtol=1e-7, atol=1e-9), (text, name)
    lines = _lines(g.to_text())
    if "z1" in lines and "W1" in wrt:
        assert not any("X*W1" in v for k, v in lines.items() if k.startswith("d")), lines


@pytest.mark.parametrize(("text", "wrt"), NETS)
def test_the_printed_pass_checked_back_is_right(text, wrt):
    """matdiff's own printed pass, given to compare, is right line by line: its named
    pre-activations are read as lines of the expression, dz1 as the gradient by z1."""
    g = matdiff.grad(text, wrt=wrt, declare=MLP)
    r = matdiff.compare(g.to_text(), of=text, wrt=wrt, declare=MLP)
    assert r.equal, str(r)
    assert [line for line in r.forward if line.startswith("z")] == \
        [line for line in g.to_text().splitlines() if line.startswith("z")]


def test_a_slip_in_a_signal_line_is_that_line():
    text, wrt = NETS[0]
    printed = matdiff.grad(text, wrt=wrt, declare=MLP).to_text()
    slip = printed.replace("(1 - tanh(z1).^2)", "(1 - tanh(z1))")
    r = matdiff.compare(slip, of=text, wrt=wrt, declare=MLP)
    assert not r.equal and r.first_wrong == "dz1"
    assert [line.name for line in r.lines if not line.equal] == ["dz1"]


def test_a_name_the_function_does_not_compute_is_the_wrong_line():
    text, wrt = NETS[0]
    printed = matdiff.grad(text, wrt=wrt, declare=MLP).to_text()
    r = matdiff.compare(printed.replace("z1 = X*W1 + b1'", "z1 = X*W1 - b1'"), of=text,
                        wrt=wrt, declare=MLP)
    assert not r.equal and r.first_wrong == "z1"
    assert "not a value the function computes" in r["z1"].diagnosis


def test_a_helper_value_may_be_named():
    text, wrt = NETS[0]
    answer = ("h = tanh(X*W1 + b1')\ng = 1 - h.^2\ndW2 = 2*h'*(h*W2 - Y)\n"
              "dW1 = X'*((2*(h*W2 - Y)*W2').*g)\ndb1 = sum((2*(h*W2 - Y)*W2').*g, 1)'")
    assert matdiff.compare(answer, of=text, wrt=wrt, declare=MLP).equal
    wrong = answer.replace("g = 1 - h.^2", "g = 1 - h")
    r = matdiff.compare(wrong, of=text, wrt=wrt, declare=MLP)
    assert not r.equal and r.first_wrong == "dW1"
