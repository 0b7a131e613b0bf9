"""Exact strings pin the printers: text (the input language), LaTeX, layouts, index notation."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.ir import expr as ir
from matdiff.ir.ops import Op, spelling
from matdiff.printing import LatexPrinter, TextPrinter, to_latex, to_text
from matdiff.printing.latex import FUNCTIONS, latex_name
from matdiff.printing.matrix import FORMS
from matdiff.printing.precedence import PRECEDENCE

SYM = {"A": "symmetric matrix"}

# (expression, wrt, declarations, text, LaTeX)
DERIVATIVES = [
    ("x'*A*x", "x", {}, "(A + A')*x", r"\left(A + A^\top\right) x"),
    ("x'*A*x", "x", SYM, "2*A*x", "2 A x"),
    ("x'*A*x", "A", {}, "x*x'", r"x x^\top"),
    ("a'*X*b", "X", {"a": "vector", "b": "vector"}, "a*b'", r"a b^\top"),
    ("w .* x", "w", {}, "diag(x)", r"\operatorname{diag}\left(x\right)"),
    ("w ./ x", "w", {}, "diag(1./x)", r"\operatorname{diag}\left(1 \oslash x\right)"),
    ("x + z", "z", {"z": "scalar"}, "vector(1, numel(x))", r"\mathbf{1}_{n}"),
    ("x * z", "x", {"z": "scalar"}, "z*eye(numel(x))", "z I_{n}"),
    ("x", "x", {}, "eye(numel(x))", "I_{n}"),
    ("sum(x)", "x", {}, "vector(1, numel(x))", r"\mathbf{1}_{n}"),
    ("mean(x)", "x", {}, "vector(1, numel(x))/numel(x)", r"\frac{\mathbf{1}_{n}}{n}"),
    ("max(0, w'*x + b)", "w", {"b": "scalar"}, "step(w'*x + b)*x",
     r"\operatorname{step}\left(w^\top x + b\right) x"),
    ("sigmoid(z)", "z", {}, "diag(sigmoid(z).*(1 - sigmoid(z)))",
     r"\operatorname{diag}\left(\sigma\left(z\right) \odot \left(1 - \sigma\left(z\right)"
     r"\right)\right)"),
    ("softmax(z)", "z", {}, "diag(softmax(z)) - softmax(z)*softmax(z)'",
     r"\operatorname{diag}\left(\operatorname{softmax}\left(z\right)\right) - "
     r"\operatorname{softmax}\left(z\right) \operatorname{softmax}\left(z\right)^\top"),
    ("logsumexp(z) - y'*z", "z", {}, "softmax(z) - y",
     r"\operatorname{softmax}\left(z\right) - y"),
    ("sum(log(1 + exp(-y .* (X*w))))", "w", {}, "-X'*(sigmoid(-y.*(X*w)).*y)",
     r"-X^\top \left(\sigma\left(-y \odot \left(X w\right)\right) \odot y\right)"),
    ("logdet(X)", "X", {}, "inv(X)'", r"X^{-\top}"),
    ("det(X)", "X", {}, "det(X)*inv(X)'", r"\det\left(X\right) X^{-\top}"),
    ("norm2(x)", "x", {}, "x/norm2(x)", r"\frac{x}{\left\lVert x\right\rVert}"),
    ("tr(A*X*B)", "X", {}, "A'*B'", r"A^\top B^\top"),
    ("X'*a - X'*b", "a", {"a": "vector", "b": "vector"}, "X'", r"X^\top"),
    ("sum(X'*a - X'*b)", "X", {"a": "vector", "b": "vector"}, "(a - b)*vector(1, size(X, 2))'",
     r"\left(a - b\right) \mathbf{1}_{m}^\top"),
    ("x.^3", "x", {}, "3*diag(x.^2)", r"3 \operatorname{diag}\left(x^{\circ 2}\right)"),
    ("sqrt(x)", "x", {}, "diag(1./sqrt(x))/2",
     r"\frac{\operatorname{diag}\left(1 \oslash \sqrt{x}\right)}{2}"),
    ("W_out*h1", "h1", {}, "W_out", "W_{out}"),
    ("x'*A", "x", {}, "A'", r"A^\top"),
    ("mean((y - max(0, X*w + b)).^2)", "w", {"b": "scalar"},
     "2*X'*((max(0, X*w + b) - y).*step(X*w + b))/numel(y)",
     r"\frac{2 X^\top \left(\left(\max\left(0, X w + b\right) - y\right) \odot "
     r"\operatorname{step}\left(X w + b\right)\right)}{n}"),
]


@pytest.mark.parametrize("text, wrt, declare, want, want_latex", DERIVATIVES)
def test_derivative_strings(text, wrt, declare, want, want_latex):
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    assert str(d) == want
    assert d.latex() == want_latex


# tensors with no matrix form print in index notation, never "cannot display"
@pytest.mark.parametrize("text, wrt, want, want_latex", [
    ("W*x", "W", "T[i,j,k] = δ[i,j]*x[k]", r"T_{ijk} = \delta_{ij} x_{k}"),
    ("x*x'", "x", "T[i,j,k] = δ[i,k]*x[j] + δ[j,k]*x[i]",
     r"T_{ijk} = \delta_{ik} x_{j} + \delta_{jk} x_{i}"),
    ("inv(X)", "X", "T[i,j,k,l] = -inv(X)[i,k]*inv(X)[l,j]",
     r"T_{ijkl} = -\left(X^{-1}\right)_{ik} \left(X^{-1}\right)_{lj}"),
    ("X", "X", "T[i,j,k,l] = δ[i,k]*δ[j,l]", r"T_{ijkl} = \delta_{ik} \delta_{jl}"),
])
def test_index_notation(text, wrt, want, want_latex):
    d = matdiff.diff(text, wrt=wrt)
    assert str(d) == want
    assert d.latex() == want_latex


def test_index_notation_sums_and_matrix_pieces():
    d = matdiff.diff("A*B*x", wrt="B")
    assert str(d) == "T[i,j,k] = A[i,j]*x[k]"
    h = matdiff.diff("x'*A*x", wrt="A", order=2)
    assert str(h) == "T[i,j,k,l] = 0"


@pytest.mark.parametrize("text, wrt, declare, shape, numerator, denominator", [
    ("x'*A*x", "x", {}, "(A + A')*x", "x'*(A' + A)", "(A + A')*x"),
    ("x'*A*x", "x", SYM, "2*A*x", "2*x'*A", "2*A*x"),
    ("logdet(X)", "X", {}, "inv(X)'", "inv(X)", "inv(X)'"),
    ("A*x", "x", {}, "A", "A", "A'"),
    ("x*z", "z", {"z": "scalar"}, "x", "x", "x'"),
    ("sum(x)", "x", {}, "vector(1, numel(x))", "vector(1, numel(x))'", "vector(1, numel(x))"),
    ("W*x", "W", {}, "T[i,j,k] = δ[i,j]*x[k]", "T[i,j,k] = δ[i,j]*x[k]",
     "T[i,j,k] = δ[i,j]*x[k]"),
])
def test_layouts(text, wrt, declare, shape, numerator, denominator):
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    assert d.to_text() == d.to_text(layout="shape") == shape
    assert d.to_text(layout="numerator") == numerator
    assert d.to_text(layout="denominator") == denominator


def test_unknown_layout_lists_the_valid_ones():
    d = matdiff.diff("x'*x", wrt="x")
    with pytest.raises(matdiff.MatdiffError, match="shape, numerator, denominator"):
        d.to_text(layout="rows")


@pytest.mark.parametrize("text, want, want_latex", [
    ("x'*A", "x'*A", r"x^\top A"),
    ("A*x + b", "A*x + b", r"A x + b"),
    ("-(A*x)", "-A*x", "-A x"),
    ("(A + B)'", "(A + B)'", r"\left(A + B\right)^\top"),
    ("(x.*y)'", "(x.*y)'", r"\left(x \odot y\right)^\top"),
    ("2*x.^2 - 1./x", "2*x.^2 - 1./x", r"2 x^{\circ 2} - 1 \oslash x"),
    ("a^2 / b", "a^2/b", r"\frac{a^{2}}{b}"),
    ("x/2", "x/2", r"\frac{x}{2}"),
    ("0.25*x", "x/4", r"\frac{x}{4}"),
    ("1e-3*x", "0.001*x", "0.001 x"),
    ("(x'*y)*A", "(x'*y)*A", r"\left(x^\top y\right) A"),
    ("tr(A) + det(A) + logdet(A)", "tr(A) + det(A) + logdet(A)",
     r"\operatorname{tr}\left(A\right) + \det\left(A\right) + \log\det\left(A\right)"),
    ("inv(A)'*x", "inv(A)'*x", r"A^{-\top} x"),
    ("diag(A)", "diag(A)", r"\operatorname{diag}\left(A\right)"),
    ("sum(A)", "sum(A)", r"\operatorname{sum}\left(A\right)"),
    ("abs(x) + sqrt(x)", "abs(x) + sqrt(x)", r"\left|x\right| + \sqrt{x}"),
    ("(A*x).*(B*y)", "(A*x).*(B*y)", r"\left(A x\right) \odot \left(B y\right)"),
    ("x - (y - x)", "2*x - y", "2 x - y"),
    ("exp(-a)", "exp(-a)", r"\exp\left(-a\right)"),
    ("(a + b)^(c + 1)", "(a + b)^(c + 1)", r"\left(a + b\right)^{c + 1}"),
    ("matrix(2) + A", "A + 2", r"A + 2"),  # the language's expansion of a number
        ("eye + matrix(2)", "eye + matrix(2)", r"I + 2 \cdot \mathbf{1}\mathbf{1}^\top"),
    ("vector(3)", "vector(3)", r"3 \cdot \mathbf{1}"),
    ("x*y'", "x*y'", r"x y^\top"),
])
def test_expression_strings(text, want, want_latex):
    e = matdiff.parse(text)
    assert e.to_text() == want
    assert e.latex() == want_latex


def test_row_vector_expression_prints_as_a_row():
    e = matdiff.parse("x'*A")
    assert e.orientation == "row"
    assert str(e) == "x'*A"
    assert str(matdiff.parse("(A*x)'")) == "x'*A'"


@pytest.mark.parametrize("name, want", [
    ("x", "x"), ("w1", "w_{1}"), ("W_out", "W_{out}"), ("alpha", r"\alpha"),
    ("bias", r"\mathrm{bias}"), ("Sigma", r"\Sigma"), ("beta2", r"\beta_{2}"),
])
def test_latex_names(name, want):
    assert latex_name(name) == want


def test_every_op_and_form_kind_has_a_printer():
    assert set(FORMS) == set(Op)
    assert TextPrinter.missing_kinds() == []
    assert LatexPrinter.missing_kinds() == []
    functions = {spelling(op) for op in Op if op not in (Op.VAR, Op.CONST, Op.SIZE, Op.EINSUM,
                                                        Op.ADD, Op.POW, Op.CONCAT)}
    special = {"sqrt", "abs", "norm2", "inv"}
    assert functions - special <= set(FUNCTIONS)
    assert set(PRECEDENCE) >= {"sym", "num", "add", "mul", "had", "t", "index"}


def test_repr_latex_and_markdown_for_notebooks():
    d = matdiff.diff("x'*A*x", wrt="x")
    assert d._repr_latex_() == r"$\displaystyle \left(A + A^\top\right) x$"
    assert r"\left(A + A^\top\right) x" in d._repr_markdown_()
    assert matdiff.parse("x'*A*x")._repr_latex_() == r"$\displaystyle x^\top A x$"


def test_deep_expressions_print_without_recursion():
    x = ir.var("x", ("n",))
    A = ir.var("A", ("n", "n"))
    e = x
    for k in range(10_000):
        e = ir.unary(Op.TANH, e) if k % 3 else ir.einsum([A, e], [[0, 1], [1]], [0])
    text = to_text(e)
    assert text.startswith("A*tanh(tanh(A*tanh(") and text.count("tanh(") == 6666
    assert to_latex(e).count(r"\tanh") == 6666


def test_exponentially_long_prints_are_refused_not_attempted():
    x = ir.var("x", ("n",))
    A = ir.var("A", ("n", "n"))
    e = x
    for _ in range(60):  # each level uses the previous one twice
        e = ir.add([e, ir.einsum([A, e], [[0, 1], [1]], [0])])
    with pytest.raises(matdiff.MatdiffError, match="longer than"):
        to_text(e)


def test_expression_variables_name_sizes():
    e = matdiff.parse("numel(x)")
    assert to_text(e.ir, variables=e.variables) == "numel(x)"
    assert to_text(e.ir) == "tr(eye)"  # no variable left to name the size by: as unknown


def test_sizes_print_as_numel_of_a_variable():
    n = ir.size(("n",))
    x = ir.var("x", ("n",))
    e = ir.einsum([x, ir.binary(Op.POW, n, ir.const(-1.0))], [[0], []], [0])
    assert to_text(e) == "x/numel(x)"
    assert to_latex(e) == r"\frac{x}{n}"


def _round_trip(expr: str, wrt: str, declare: dict | None = None) -> str:
    d = matdiff.diff(expr, wrt=wrt, declare=declare)
    rng = np.random.default_rng(1)
    sizes = {}
    values = {}
    for name, v in matdiff.parse(expr, declare=declare).variables.items():
        shape = tuple(sizes.setdefault(s, 2 + len(sizes)) for s in v.shape)
        values[name] = rng.uniform(0.5, 1.5, shape) if shape else 0.7
    back = matdiff.parse(str(d), declare=declare).evaluate(values)
    np.testing.assert_allclose(np.asarray(back).reshape(np.shape(d.evaluate(values))),
                               d.evaluate(values), rtol=1e-10)
    return str(d)


def test_a_product_of_sizes_in_a_divisor_keeps_its_brackets():
    assert _round_trip("mean(sin(x*y'))", "x") == "cos(x*y')*y/(numel(x)*numel(y))"


def test_a_size_no_whole_variable_covers_prints_as_size_of_a_matrix():
    assert _round_trip("mean(sin(A*B))", "A") == "cos(A*B)*B'/(size(A, 1)*size(B, 2))"
    assert _round_trip("tr(b*eye + I)", "b") == "size(I, 1)"


def test_sizes_never_collide_with_variables():
    declare = {"n": "scalar", "p": "scalar", "m": "scalar"}
    text = _round_trip("mean(sin(A*B)) + n + p + m", "A", declare)
    assert "/(size(A, 1)*size(B, 2))" in text
    latex = matdiff.diff("mean(sin(A*B)) + n + p + m", wrt="A", declare=declare).latex()
    denominator = latex.rsplit("{", 1)[1].rstrip("}")
    assert not set(denominator.split()) & {"n", "p", "m"}, latex


def test_size_of_an_axis_is_part_of_the_language():
    A, x = np.ones((3, 4)), np.ones(3)
    e = matdiff.parse("size(A, 1)*x + size(A, 2) + size(x, 1) + size(x', 1)")
    np.testing.assert_allclose(e.evaluate({"A": A, "x": x}), 3 + 4 + 3 + 1)
    assert str(matdiff.diff("size(A, 2)*sum(x)", wrt="x")) == "size(A, 2)*vector(1, numel(x))"
    assert str(matdiff.diff("size(A, 2) + sum(A)", wrt="A")) == "matrix(1, size(A, 1), size(A, 2))"
    for bad in ("size(A, 3)", "size(A, b)", "size(A)"):
        with pytest.raises(matdiff.MatdiffError, match="size"):
            matdiff.parse(bad)


def test_a_size_that_repeats_a_dimension_prints_through_the_variable_twice() -> None:
    # n*n from x*x' is numel(x)*numel(x); it printed tr(eye), which has no size to evaluate
    d = matdiff.diff("mean(tan(x*x'))", wrt="x")
    assert str(d).endswith("/(numel(x)*numel(x))"), str(d)
    x = np.array([0.1, 0.2, -0.3])
    back = matdiff.parse(str(d)).evaluate({"x": x})
    assert np.allclose(back, d.evaluate({"x": x}))


def test_an_expression_prints_without_a_layout():
    """Only a derivative has axes to arrange; an Expression's to_text takes no layout."""
    e = matdiff.parse("A*x")
    assert str(e) == e.to_text() == "A*x"
    with pytest.raises(TypeError):
        e.to_text(layout="numerator")
    with pytest.raises(TypeError):
        e.latex(layout="numerator")


def test_adding_a_notation_is_a_printer_and_one_registry_line(monkeypatch):
    """A notation added to printing.NOTATIONS is printed by Expression.printed,
    Derivative.printed (in any layout) and offered by `matdiff diff --notation`."""
    import argparse

    from matdiff.commands import diff as command
    from matdiff.printing import NOTATIONS, Notation

    shout = Notation("shout", lambda form: TextPrinter().doprint(form).upper(), "loud text")
    monkeypatch.setitem(NOTATIONS, "shout", shout)
    d = matdiff.diff("x'*A*x", wrt="x", declare={"A": "matrix(n, n)", "x": "vector(n)"})
    assert d.printed("shout") == d.to_text().upper()
    assert d.printed("shout", layout="numerator") == d.to_text(layout="numerator").upper()
    assert d.function.printed("shout") == "X'*A*X"
    assert d.printed("latex") == d.latex() and d.printed("mathml").startswith("<math")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert parser.parse_args(["x", "--wrt", "x", "--notation", "shout"]).notation == "shout"
    with pytest.raises(matdiff.MatdiffError, match="notation must be one of"):
        d.printed("braille")


def test_a_deep_chain_of_shared_forms_prints_in_time():
    # each level of softmax(softmax(...)) shares its argument twice; the printer walked the
    # shared forms anew for every transpose it tried: 17 s at depth 17, doubling per level
    import time
    d = matdiff.diff("sum(" + "softmax(" * 18 + "x" + ")" * 18 + ")", wrt="x")
    start = time.perf_counter()
    try:
        str(d)
    except matdiff.MatdiffError as e:  # too long to write out: said so, quickly
        assert "longer than" in str(e)
    assert time.perf_counter() - start < 8
