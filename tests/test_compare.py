"""matdiff.compare (comparison.py, mistakes.py): typical hand-derivation mistakes, each
with the diagnosis it must get, and right answers written differently from matdiff's
form, which must be accepted."""

from __future__ import annotations

import json

import numpy as np
import pytest

import matdiff
from matdiff.cli import main
from matdiff.printing.layout import LAYOUTS

S = {"A": "symmetric matrix"}
B = {"b": "scalar"}
Q = {"A": "square matrix"}
MSE = "mean((X*w - y).^2)"
LSQ = "0.5*norm2(X*w - y)^2"
RELU_LOSS = "mean((y - max(0, X*w + b)).^2)"

# (answer, expression, wrt, declarations, the mistake it must be diagnosed as)
MISTAKES = [
    # the layout: the transpose of the derivative
    ("B*A", "tr(A*X*B)", "X", None, "layout"),
    ("inv(X)", "logdet(X)", "X", {"X": "square matrix"}, "layout"),
    ("x'*(A + A')", "x'*A*x", "x", None, "layout"),
    ("y*x'", "x'*W*y", "W", None, "layout"),
    ("sum(y)*x*softmax(W*x)' - x*y'", "-y'*log(softmax(W*x))", "W", None, "layout"),
    # a sign
    ("X'*(y - X*w)", LSQ, "w", None, "sign"),
    ("2*X'*(y - X*w)/numel(y)", MSE, "w", None, "sign"),
    ("-cos(x)", "sum(sin(x))", "x", None, "sign"),
    ("-x", "w'*x", "w", None, "sign"),
    # a constant factor
    ("2*X'*(X*w - y)", LSQ, "w", None, "factor"),
    ("A*x", "x'*A*x", "x", S, "factor"),
    ("4*A*x", "x'*A*x", "x", S, "factor"),
    ("0.5*x", "0.5*x'*x", "x", None, "factor"),
    ("2*X'*(X*w - y)", MSE, "w", None, "factor"),          # the mean's 1/numel(y)
    ("X'*(X*w - y)/numel(y)", MSE, "w", None, "factor"),    # the square's 2
    # a missing or extra term
    ("A*x", "x'*A*x", "x", None, "missing term"),
    ("A'*x", "x'*A*x", "x", None, "missing term"),
    ("X'*X*w", LSQ, "w", None, "missing term"),
    ("exp(x).*tanh(x)", "sum(exp(x).*tanh(x))", "x", None, "missing term"),
    ("(A + A')*x + b*x", "x'*A*x", "x", B, "extra term"),
    ("X'*(X*w - y) + w", LSQ, "w", None, "extra term"),
    ("X'*X*w + X'*y", LSQ, "w", None, "term sign"),
    # a wrong shape
    ("x'*A*x", "x'*A*x", "x", None, "shape"),
    ("A", "x'*A*x", "x", None, "shape"),
    ("diag(x)", "sum(x.^2)", "x", None, "shape"),
    ("x*y'", "x'*y", "x", None, "shape"),
    # the relu case split taken for the whole sum
    ("2*X'*(X*w + b - y)/numel(y)", RELU_LOSS, "w", B, "case split"),
    ("2*sum(X*w + b - y)/numel(y)", RELU_LOSS, "b", B, "case split"),
    ("2*step(sum(X*w + b))*X'*(max(0, X*w + b) - y)/numel(y)", RELU_LOSS, "w", B,
     "case split"),                                         # the indicator outside the sum
    ("2*step(sum(X*w + b))*X'*(X*w + b - y)/numel(y)", RELU_LOSS, "w", B, "case split"),
    # a forgotten chain factor
    ("x", "sigmoid(w'*x)", "w", None, "chain factor"),
    ("sigmoid(X*w)", "sum(log(1 + exp(X*w)))", "w", None, "shape"),
    ("2*X'*(max(0, X*w + b) - y)/numel(y)", RELU_LOSS, "w", B, "chain factor"),
    ("2*(X*w - y)", MSE, "w", None, "shape"),
    ("cos(x'*x)*x", "sin(x'*x)", "x", None, "factor"),
    ("X'*sinh(X*w)", "sum(log(cosh(X*w)))", "w", None, "chain factor"),
    ("X'*cosh(X*w)", "sum(log(cosh(X*w)))", "w", None, "different"),
    ("X'*vector(1)", "sum(tanh(X*w))", "w", None, "chain factor"),
    # a misplaced transpose of a factor
    ("A*x", "x'*A*y", "y", Q, "transpose"),
    ("A*y", "y'*A*x", "x", Q, "transpose"),
    # one slip in one term, or inside a function (verified: the fixed answer is right)
    ("X'*(softmax(X*W, 2) - Y) + 2*c*W",
     "-sum(sum(Y .* logsoftmax(X*W, 2)))/size(X, 1) + c*sum(sum(W.^2))", "W",
     {"Y": "one-hot rows", "c": "scalar"}, "term factor"),
    ("-X'*(y.*sigmoid(y.*(X*w)))", "sum(log(1 + exp(-y .* (X*w))))", "w", None, "sign inside"),
    ("softmax(Q*K', 2)'*G", "sum(sum(G .* (softmax(Q*K'/sqrt(size(Q, 2)), 2)*V)))", "V", None,
     "factor inside"),
    ("-X'*sigmoid(-y.*(X*w))", "sum(log(1 + exp(-y .* (X*w))))", "w", None, "inner factor"),
    ("3*x.^3", "sum(x.^3)", "x", None, "power"),
    ("step(w'*x + b)*w", "max(0, w'*x + b)", "w", B, "variable"),
    # right under an assumption, or in the other convention
    ("X'*(softmax(X*W, 2) - Y)/size(X, 1)", "-sum(sum(Y .* logsoftmax(X*W, 2)))/size(X, 1)",
     "W", None, "assumption"),
    ("2*inv(S) - diag(diag(inv(S)))", "logdet(S)", "S", {"S": "symmetric matrix"},
     "convention"),
    # right only for a symmetric matrix
    ("2*A*x", "x'*A*x", "x", None, "symmetric"),
    ("2*A*x - b", "x'*A*x - b'*x", "x", {"b": "vector"}, "symmetric"),
    # a convolution's input gradient without the kernel turned half a turn
    ("conv2(G, K, 2)", "sum(G .* conv2(X, K))", "X",
     {"X": "matrix(6, 6)", "K": "matrix(3, 3)", "G": "matrix(4, 4)"}, "flip"),
]

# right answers, written differently from matdiff's printed form
RIGHT = [
    ("2*A*x", "x'*A*x", "x", S),
    ("A*x + A'*x", "x'*A*x", "x", None),
    ("(A' + A)*x", "x'*A*x", "x", None),
    ("X'*X*w - X'*y", LSQ, "w", None),
    ("X'*(X*w - y)", LSQ, "w", None),
    ("-X'*(y - X*w)", LSQ, "w", None),
    ("2/numel(y)*X'*(X*w - y)", MSE, "w", None),
    ("A'*B'", "tr(A*X*B)", "X", None),
    ("(B*A)'", "tr(A*X*B)", "X", None),
    ("inv(X')", "logdet(X)", "X", {"X": "square matrix"}),
    ("2*X'*((max(0, X*w + b) - y).*step(X*w + b))/numel(y)", RELU_LOSS, "w", B),
    ("step(w'*x + b)*x", "max(0, w'*x + b)", "w", B),
    ("sigmoid(w'*x)*(1 - sigmoid(w'*x))*x", "sigmoid(w'*x)", "w", None),
    ("diag(cos(x))", "sin(x)", "x", None),
    ("eye - matrix(1)/numel(x)", "x - mean(x)", "x", None),
    ("x*y'", "x'*W*y", "W", None),
    ("2*A", "x'*A*x", "x", S),
]


@pytest.mark.parametrize(("answer", "of", "wrt", "declare", "mistake"), MISTAKES,
                         ids=[f"{m[4]}:{m[0]}|{m[1]}" for m in MISTAKES])
def test_a_typical_mistake_gets_its_diagnosis(answer, of, wrt, declare, mistake):
    order = 2 if (answer, of) == ("2*A", "x'*A*x") else 1
    r = matdiff.compare(answer, of=of, wrt=wrt, declare=declare, order=order)
    assert not r.equal and not r
    assert r.mistake == mistake, f"{r.mistake}: {r.diagnosis}"
    assert r.diagnosis and str(r).startswith(f"not equal ({mistake})")
    if mistake != "shape" and "written as a row" not in r.diagnosis:
        assert r.point is not None and set(r.point) <= set(matdiff.parse(of, declare).variables)


@pytest.mark.parametrize(("answer", "of", "wrt", "declare"), RIGHT,
                         ids=[f"{r[0]}|{r[1]}" for r in RIGHT])
def test_a_right_answer_written_differently_is_accepted(answer, of, wrt, declare):
    order = 2 if (answer, of) == ("2*A", "x'*A*x") else 1
    r = matdiff.compare(answer, of=of, wrt=wrt, declare=declare, order=order)
    assert r.equal and r and r.mistake is None, str(r)
    assert str(r).startswith("equal")


def test_at_least_thirty_mistakes_of_every_kind():
    assert len(MISTAKES) >= 30
    kinds = {m[4] for m in MISTAKES}
    assert set(matdiff.comparison.MISTAKES) == kinds


def test_diagnoses_name_the_term_the_factor_and_the_shapes():
    r = matdiff.compare("A*x", of="x'*A*x", wrt="x")
    assert "A'*x" in r.diagnosis
    r = matdiff.compare("2*X'*(X*w - y)", of=MSE, wrt="w")
    assert "numel(y)" in r.diagnosis
    r = matdiff.compare("2*X'*(X*w - y)", of=LSQ, wrt="w")
    assert "2 times" in r.diagnosis
    r = matdiff.compare("A", of="x'*A*x", wrt="x")
    assert "a matrix" in r.diagnosis and "a column vector" in r.diagnosis
    r = matdiff.compare("2*X'*(X*w + b - y)/numel(y)", of=RELU_LOSS, wrt="w", declare=B)
    assert "per sample" in r.diagnosis and "step(X*w + b)" in r.diagnosis
    r = matdiff.compare("x", of="sigmoid(w'*x)", wrt="w")
    assert "sigmoid(w'*x)*(1 - sigmoid(w'*x))" in r.diagnosis


def test_symbolic_when_the_simplified_forms_agree():
    assert matdiff.compare("2*A*x", of="x'*A*x", wrt="x", declare=S).symbolic
    r = matdiff.compare("X'*X*w - X'*y", of=LSQ, wrt="w")
    assert r.equal and not r.symbolic


def test_numerator_layout_compares_rows():
    r = matdiff.compare("x'*(A + A')", of="x'*A*x", wrt="x", layout="numerator")
    assert r.equal, str(r)
    r = matdiff.compare("B*A", of="tr(A*X*B)", wrt="X", layout="numerator")
    assert r.equal, str(r)
    r = matdiff.compare("(A + A')*x", of="x'*A*x", wrt="x", layout="numerator")
    assert r.mistake == "layout"


def test_the_point_and_the_values_where_they_differ():
    r = matdiff.compare("X'*(y - X*w)", of=LSQ, wrt="w")
    X, y, w = (np.asarray(r.point[k]) for k in "Xyw")
    np.testing.assert_allclose(r.expected_value, X.T @ (X @ w - y))
    np.testing.assert_allclose(r.answer_value, X.T @ (y - X @ w))
    record = r.to_dict()
    assert json.loads(json.dumps(record))["mistake"] == "sign"


@pytest.mark.parametrize(("answer", "message"), [
    ("2*A*", "line 1"),
    ("2*B*x", "'B'"),
    ("2*A*x/n", "numel"),
])
def test_bad_answers_are_errors_with_positions(answer, message):
    with pytest.raises(matdiff.MatdiffError, match=message):
        matdiff.compare(answer, of="x'*A*x", wrt="x")


def test_command_line(capsys):
    assert main(["compare", "2*A*x", "--of", "x'*A*x", "--wrt", "x"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("not equal (symmetric)") and "(A + A')*x" in out
    assert main(["compare", "2*A*x", "--of", "x'*A*x", "--wrt", "x",
                 "--declare", "A=symmetric matrix"]) == 0
    assert capsys.readouterr().out.startswith("equal")
    assert main(["compare", "X'*(y - X*w)", "--of", LSQ, "--wrt", "w", "--json"]) == 1
    record = json.loads(capsys.readouterr().out)
    assert record["equal"] is False and record["mistake"] == "sign" and record["point"]
    assert main(["compare", "2*A*", "--of", "x'*A*x", "--wrt", "x"]) == 2


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_compare_command_offers_every_layout(layout, capsys):
    """The choices are read from LAYOUTS: "denominator" was once refused by argparse."""
    answer = {"shape": "A", "numerator": "A", "denominator": "A'"}[layout]
    assert main(["compare", answer, "--of", "A*x", "--wrt", "x", "--layout", layout]) == 0
    capsys.readouterr()



def test_the_diagnoses_are_handed_the_frozen_records_below_the_api(monkeypatch):
    """mistakes.py and slips.py sit below the API: comparison hands them the records of
    ir/record.py (what they read), never the public Derivative and Expression."""
    from matdiff import comparison
    from matdiff.ir.record import DerivativeRecord, FunctionRecord

    seen = []

    def spy(d, ans, case, A, E, expected):
        seen.append((type(d), type(ans)))

    monkeypatch.setattr(comparison, "TESTS", (spy, *comparison.TESTS))
    c = matdiff.compare("-2*A*x", of="x'*A*x", wrt="x", declare={"A": "symmetric matrix"})
    assert not c.equal and c.mistake == "sign"
    assert seen == [(DerivativeRecord, FunctionRecord)]


def test_an_answer_reads_a_declared_row_vector_as_a_row():
    # the answer was read with r a column: r' (right) was "written as a row", r (wrong) equal
    declare = {"r": "row vector(n)", "y": "vector(n)"}
    assert matdiff.compare("r'", of="r*y", wrt="y", declare=declare).equal
    assert matdiff.compare("-(-(r'))", of="r*y", wrt="y", declare=declare).equal
    assert not matdiff.compare("r", of="r*y", wrt="y", declare=declare).equal


@pytest.mark.parametrize("answer, head", [("2*A*x", "not equal (symmetric)"),
                                          ("A*x + A'*x", "equal: the answer is the derivative")])
def test_a_comparison_displays_its_mathematics_as_mathml(answer, head):
    """In a notebook the answer and the derivative are MathML (no LaTeX left), their text
    below to copy."""
    pytest.importorskip("latex2mathml")
    c = matdiff.compare(answer, of="x'*A*x", wrt="x")
    shown = c._repr_html_()
    assert head in shown and "matdiff-latex" not in shown and "\\" not in shown
    assert shown.count("<math") == 2
    assert c.answer_latex == matdiff.parse(answer).latex()
    assert c.expected_latex == matdiff.diff("x'*A*x", wrt="x").latex()
    assert "<details><summary>as text</summary>" in shown and f"answer: {c.answer}" in \
        shown.replace("&#x27;", "'")
