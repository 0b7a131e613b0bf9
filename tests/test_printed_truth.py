"""Everything printed is true, checked by one helper (printed_truth.py) for every view:
the derivative in each layout, each step of its derivation, each line of a backward pass,
the command line's JSON record. The texts are read with nothing but the variables'
declarations and evaluated from their values alone (docs/printing.md, Sizes)."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matdiff
from matdiff.ir.expr import variables
from printed_truth import check_backward, check_derivative, check_text, values_for
from printing_support import RECT_DECLARE, rectangular_expressions

pytestmark = pytest.mark.filterwarnings("ignore::matdiff.MatdiffWarning")

# the issue's texts: sizes no operand carried, expansions that did not parse on their own
ISSUE = [
    ("sum(X, 1)*v", "X", {}), ("x + z", "z", {"z": "scalar"}), ("sum(x)", "x", {}),
    ("x - mean(x)", "x", {}), ("sign(x)", "x", {}), ("sum(exp(u - u))*a", "a", {}),
    ("sum(a*u)", "u", {}), ("x", "x", {}), ("mean(X)", "X", {}),
    ("sum(sum((X*W + vector(1)*b').^2))", "b", {"b": "vector"}),
    ("sum(sum((X*W + vector(1)*b').^2))", "W", {"b": "vector"}),
    ("sum(max(u, a - A))", "u", {"u": "vector(m)", "A": "matrix(m, n)"}),
    ("sum(max(u, a - A))", "A", {"u": "vector(m)", "A": "matrix(m, n)"}),
    ("logsumexp(A, 1) - u'", "u", {}), ("sum((X - mean(X, 2)).^2)", "X", {}),
    ("max(0, w'*x + b)", "w", {"b": "scalar"}), ("mean((y - max(0, X*w + b)).^2)", "b",
                                                  {"b": "scalar"}),
    # a variable declared a row vector prints as the row it is (r, and r' for the column)
    ("r*A*x", "A", {"r": "row vector"}), ("r*A*x", "x", {"r": "row vector"}),
    ("sum(X .* r)", "r", {"r": "row vector"}),
    ("r*A*x + sum(tanh(r))", "r", {"r": "row vector"}),
]


@pytest.mark.parametrize(("text", "wrt", "declare"), ISSUE)
def test_the_issues_texts_evaluate_on_their_own(text, wrt, declare):
    d = matdiff.diff(text, wrt=wrt, declare=declare or None)
    check_derivative(d)


def test_a_size_is_written_through_a_variable():
    assert str(matdiff.diff("sum(X, 1)*v", wrt="X")) == "vector(1, size(X, 1))*v'"
    assert str(matdiff.diff("sign(x)", wrt="x")) == "matrix(0, numel(x), numel(x))"
    assert str(matdiff.diff("x - mean(x)", wrt="x")) == "eye(numel(x)) - matrix(1)/numel(x)"
    # where the text fixes the size, the plain spelling stays
    assert str(matdiff.diff("x'*(eye + vector(1)*x')", wrt="x")).count("numel") == 0


def test_an_expansion_prints_as_its_own_rule_accepts():
    d = matdiff.diff("sum(sum((X*W + vector(1)*b').^2))", wrt="b", declare={"b": "vector"})
    assert str(d) == "2*sum(X*W + b', 1)'"
    d = matdiff.diff("sum(max(u*v', a - A))", wrt="u")
    assert str(d) == "step(u*v' - a + A)*v"  # a number expands as the language does


def test_the_language_reads_a_written_size():
    import numpy as np
    X, x = np.ones((2, 3)), np.ones(4)
    e = matdiff.parse("sum(vector(1, size(X, 1))) + sum(eye(numel(x)))"
                      " + sum(matrix(2, size(X, 2), 3))")
    assert e.evaluate({"X": X, "x": x}) == 2 + 4 + 18
    # the length of a joined axis, as a sum (issue: blocks of identities)
    e = matdiff.parse("sum(eye(2*numel(x))) + sum(vector(1, numel(x) + size(X, 1)))")
    assert e.evaluate({"X": X, "x": x}) == 8 + 6
    # a part of a joined length: w as long as [x; y], y's length numel(w) - numel(x)
    e = matdiff.parse("w'*[x; vector(1, numel(w) - numel(x))]")
    assert e.evaluate({"w": np.ones(7), "x": x}) == 7
    assert matdiff.parse("sum(eye(numel(x) - 1))").evaluate({"x": x}) == 3
    for bad in ("vector(1, x)", "eye(numel(x)*2)", "eye(numel(x) - numel(x))", "matrix(1, 2)",
                "eye(0)", "numel(eye(A))"):
        with pytest.raises(matdiff.MatdiffError):
            matdiff.parse(bad)


PROGRAMS = [
    ("h = sum(X, 1)*v\nL = h*sum(a*u)", ["X", "u", "a"]),
    ("r: row vector\nL = r*A*x", ["A", "r", "x"]),
    ("u: vector(m)\nA: matrix(m, n)\nL = sum(max(u, a - A))", ["u", "A"]),
]


@pytest.mark.parametrize(("program", "wrt"), PROGRAMS)
def test_backward_passes_evaluate_on_their_own(program, wrt):
    check_backward(matdiff.grad(program, wrt=wrt))


def test_the_json_record_is_true(capsys):
    from matdiff.cli import main

    main(["diff", "sum(X, 1)*v", "--wrt", "X", "--json"])
    record = json.loads(capsys.readouterr().out)
    d = matdiff.diff("sum(X, 1)*v", wrt="X")
    values = values_for(d.function.variables)
    check_text(record["derivative"], d.evaluate(values), d.function.variables, values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from("suvrM"), st.data())
def test_printed_texts_of_random_expressions_are_true(kind, data):
    text = data.draw(rectangular_expressions(kind, 3), label="expression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = matdiff.parse(text, RECT_DECLARE)
    present = sorted(variables(e.ir))
    if not present:
        return
    wrt = data.draw(st.sampled_from(present), label="wrt")
    d = matdiff.diff(text, wrt=wrt, declare=RECT_DECLARE)
    check_derivative(d, steps=len(d.shape) <= 2)


_BLOCK_DECLARE = {"A": "matrix", "B": "matrix", "x": "vector", "y": "vector", "a": "scalar"}
_VECTORS = ["x", "y", "A*x", "[x; y]", "exp(x)", "[a; x]", "softmax(x)", "[x; 1]"]
_MATRICES = ["A", "B", "[A, B]", "[A; B]", "[A, eye]", "[eye; A]", "[A'; A]", "[A, A; A, A]",
             "[A, 2*A; B, A]"]
_SCALARS = ["sum({v})", "{v}'*{w}", "sum(sum({M}.^2))", "sum(sum(exp({M})))", "norm2({v})",
            "sum(sum({M}*{N}))", "sum({M}*{v})", "sum(sum(softmax({M}, 2).^2))",
            "logsumexp({v})", "sum(sum([eye, eye]*softmax([{M}; {M}], 2)))"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_printed_texts_through_blocks_are_true(data):
    """Joins of variables, identities and numbers (issue: blocks of identities): every
    derivative's text, in each layout, and its steps read back and evaluate."""
    template = data.draw(st.sampled_from(_SCALARS + ["{v}"]), label="template")
    text = template.format(v=data.draw(st.sampled_from(_VECTORS)),
                           w=data.draw(st.sampled_from(_VECTORS)),
                           M=data.draw(st.sampled_from(_MATRICES)),
                           N=data.draw(st.sampled_from(_MATRICES)))
    wrt = data.draw(st.sampled_from(["A", "x", "a"]), label="wrt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            d = matdiff.diff(text, wrt=wrt, declare=_BLOCK_DECLARE)
        except matdiff.MatdiffError as e:  # shapes that do not fit
            assert "internal" not in str(e), (text, str(e))
            return
    check_derivative(d, steps=len(d.shape) <= 2)


_HEAD = ("X: matrix\nu, v: vector\nS: symmetric matrix\nP: probability rows\na: scalar\n"
         "r: row vector\n")
_LOSSES = ["sum(H .* X)", "sum(exp(H))", "u'*H*v", "sum(logsumexp(H, 2))", "sum(H, 1)*v",
           "sum(sum((H - mean(H, 2)).^2))", "sum(softmax(H, 2) .* P)"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_printed_backward_passes_of_random_programs_are_true(data):
    """Programs over every declaration kind (matrix, vector, symmetric, probability rows,
    scalar) with axis reductions, softmax along rows and row vectors spread over rows."""
    hidden = data.draw(rectangular_expressions("M", 2), label="H")
    loss = data.draw(st.sampled_from(_LOSSES), label="L")
    program = _HEAD + f"H = {hidden}\nL = {loss}"
    wrt = sorted(n for n in variables(matdiff.parse(program).ir) if n != "P")
    if wrt:
        check_backward(matdiff.grad(program, wrt=wrt))


@pytest.mark.parametrize("row", ["sum(P, 1)", "mean(P, 1)", "logsumexp(P, 1)", "max(P, [], 1)",
                                 "min(P, [], 1)", "u'*softmax(P, 1)"])
def test_a_vector_derivative_reads_back_as_the_column_it_is(row):
    """`logsumexp(P, 1)` is a row in the language: the gradient by a column v of
    `logsumexp(P, 1)*v` prints it transposed, and compare reads matdiff's own text as right
    (the bare row was judged a layout slip); in a backward pass, dv too."""
    declare = {"P": "matrix", "u": "vector", "v": "vector"}
    text = f"{row}*v"
    d = matdiff.diff(text, wrt="v", declare=declare)
    assert matdiff.compare(str(d), of=text, wrt="v", declare=declare).equal, str(d)
    g = matdiff.grad(text, wrt=["P", "v"], declare=declare)
    r = matdiff.compare(g.to_text(), of=text, wrt=["P", "v"], declare=declare)
    assert r.equal, str(r)
