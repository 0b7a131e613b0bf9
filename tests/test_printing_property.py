"""Everything printed is true, for random expressions over awkward names.

The variables are named to collide with what a printer invents: `k` and `p`
(index letters), `n` (a dimension letter), `T` (the name of an index-notation
result), `h1` and `W_out` (subscripts in LaTeX). For each random derivative:

* the text parses back and evaluates to `d.evaluate` (matrix forms through
  matdiff.parse; index notation through the independent reader in
  index_reader.py);
* the LaTeX converts to MathML without an error (double subscripts, double
  superscripts and unbalanced braces all raise there).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff
from index_reader import evaluate_index_text
from matdiff.ir.expr import variables
from printed_truth import check_text
from printing_support import DECLARE, VALUES, expressions

latex2mathml = pytest.importorskip("latex2mathml.converter")

RENAME = {"x": "k", "y": "h1", "A": "T", "B": "W_out", "a": "n"}
_NAME = re.compile(r"\b(x|y|A|B|a)\b")
NAMED_DECLARE = {RENAME[k]: v for k, v in DECLARE.items()}
NAMED_VALUES = {RENAME[k]: v for k, v in VALUES.items()}
SIZE = 3  # every dimension of the values


def _renamed(text: str) -> str:
    return _NAME.sub(lambda m: RENAME[m.group(1)], text)


def _check_printed(d: matdiff.Derivative) -> None:
    want = np.asarray(d.evaluate(NAMED_VALUES), dtype=np.float64)
    text = str(d)
    latex2mathml.convert(d.latex())
    if not np.all(np.isfinite(want)):
        return
    if len(d.shape) > 2:
        got = evaluate_index_text(text, NAMED_VALUES, NAMED_DECLARE, SIZE)
    else:  # read on its own, no size handed in (printed_truth)
        got = check_text(text, want, d.function.variables, NAMED_VALUES, NAMED_DECLARE)
    assert np.allclose(np.reshape(got, want.shape), want, rtol=1e-8, atol=1e-10), \
        (d.function.text, d.wrt, text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from("scm"), st.data())
def test_printed_derivatives_over_colliding_names_are_true(kind, data):
    text = _renamed(data.draw(expressions(kind, 3), label="expression"))
    e = matdiff.parse(text, NAMED_DECLARE)
    present = sorted(variables(e.ir)) or ["k"]
    wrt = data.draw(st.sampled_from(present), label="wrt")
    _check_printed(matdiff.diff(text, wrt=wrt, declare=NAMED_DECLARE))


@pytest.mark.parametrize("expr, wrt", [
    ("T*k", "T"), ("inv(T)", "T"), ("k*k'", "k"), ("softmax(T*k)", "T"),
    ("exp(T)*sum(k)", "T"), ("tr(T)*T", "T"), ("n*T.*W_out", "T"), ("max(0, T*k)", "T"),
    ("sigmoid(T)", "T"), ("(k'*h1)*T*k", "T"), ("W_out*h1 + k", "W_out"),
    ("T.^2 + T'.^3", "T"), ("T*W_out*k", "W_out"), ("1./(T + 2)", "T"),
])
def test_index_notation_reads_back(expr, wrt):
    _check_printed(matdiff.diff(expr, wrt=wrt, declare=NAMED_DECLARE))


def test_index_letters_and_result_name_avoid_variables():
    text = str(matdiff.diff("softmax(T*k)", wrt="T", declare=NAMED_DECLARE))
    head, _, body = text.partition(" = ")
    assert not head.startswith("T["), text
    assert "k[k]" not in body and "[k" not in body and ",k" not in body, text
    p = str(matdiff.diff("sum(P*p)*P", wrt="P", declare={"p": "vector"}))
    assert "p[p]" not in p and "Σ_p(" not in p, p


def test_subscripted_names_in_index_notation_are_valid_latex():
    d = matdiff.diff("W_out*h1 + bias", wrt="W_out", declare={"bias": "vector"})
    assert "h_{1,k}" in d.latex()
    latex2mathml.convert(d.latex())


def test_a_number_before_a_bold_one_has_a_visible_product():
    d = matdiff.diff("x'*x + x", wrt="x")  # 2*vector(1)*x' + eye
    assert r"2 \cdot \mathbf{1}" in d.latex()
    assert r"2 \cdot \mathbf{1}" in matdiff.diff("sum(2*x)", wrt="x").latex()


def test_a_transpose_raised_to_a_power_is_bracketed_in_latex():
    latex = matdiff.parse("(A').^2 + inv(B).^2").latex()
    latex2mathml.convert(latex)
    assert r"\left(A^\top\right)^{\circ 2}" in latex


def test_the_variable_of_a_partial_is_written_as_a_latex_name():
    d = matdiff.diff("alpha1*x_1_2'*x_1_2 + sum(W_out*x_1_2)", wrt="x_1_2",
                     declare={"W_out": "matrix"})
    assert r"\partial x_{1_2}" in d.explain(format="latex")
    markdown = d._repr_markdown_().strip("$ ")
    assert r"\partial x_{1_2}" in markdown
    latex2mathml.convert(markdown)
    from matdiff.web.compute import derive

    answer = derive({"expression": "sum(W_out*h1)", "wrt": "W_out"})
    assert r"\partial W_{out}" in answer["equation_latex"]
    latex2mathml.convert(answer["equation_latex"])
