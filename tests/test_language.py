"""The grammar's precedence, spellings and typing, checked through values."""

import numpy as np
import pytest

import matdiff
from matdiff.language.parser import parse_text

rng = np.random.default_rng(1)
VALUES = {
    "x": rng.uniform(0.5, 1.5, 3), "y": rng.uniform(0.5, 1.5, 3), "w": rng.uniform(0.5, 1.5, 3),
    "A": rng.standard_normal((3, 3)), "B": rng.standard_normal((3, 3)),
    "a": 0.7, "b": 1.3, "c": 0.4,
}
x, y, w, A, B, a, b, c = (VALUES[k] for k in "xywABabc")


@pytest.mark.parametrize("text, expected", [
    ("-a^2", -(a ** 2)),                      # unary minus binds looser than ^
    ("a^b^c", a ** (b ** c)),                 # ^ is right-associative
    ("a - b - c", a - b - c),                 # + - left-associative
    ("a / b / c", a / b / c),                 # * / left-associative
    ("x'*A*x", x @ A @ x),
    ("x'*y", x @ y),
    ("x*y'", np.outer(x, y)),
    ("A'*x", A.T @ x),
    ("A.T*x", A.T @ x),
    ("transpose(A)*x", A.T @ x),
    ("1./x", 1 / x),
    ("x.^-1", 1 / x),
    ("2.^x", 2 ** x),
    ("x.^2'", x ** 2),                        # postfix ' binds tighter than .^
    ("w · x", w @ x),
    ("w ⊗ x", w * x), ("w ⊙ x", w * x), ("w ∘ x", w * x), ("w ⊘ x", w / x),
    ("a − b", a - b),
    ("A @ B", A @ B),
    ("A^2", A @ A),
    ("A^-1*x", np.linalg.solve(A, x)),
    ("A^0*x", x),
    ("x + a", x + a),
    ("A + 1", A + 1),
    ("max(0, x - 1)", np.maximum(0, x - 1)),
    ("min(x, y)", np.minimum(x, y)),
    ("sum(A)", A.sum()), ("mean(A)", A.mean()), ("norm1(A)", np.abs(A).sum()),
    ("norm2(A)", np.linalg.norm(A)), ("norm2(x)", np.linalg.norm(x)),
    ("dot(x, y)", x @ y), ("tr(A)", np.trace(A)), ("trace(A)", np.trace(A)),
    ("diag(x)*y", x * y), ("diag(A)", np.diag(A)),
    ("vector(2)'*x", 2 * x.sum()), ("sum(matrix(1)*x)", None),
    ("eye*x", x), ("numel(A)", 9.0),
    ("softmax(x)", np.exp(x) / np.exp(x).sum()), ("logsumexp(x)", np.log(np.exp(x).sum())),
    ("2.5e-1*a", 0.25 * a),
])
def test_values(text, expected):
    if expected is None:  # a size only a constant carries cannot be evaluated
        with pytest.raises(matdiff.EvaluationError):
            matdiff.parse(text).evaluate(VALUES)
        return
    got = matdiff.parse(text).evaluate(VALUES)
    assert np.allclose(got, expected)


def test_positions_of_operators():
    tree = parse_text("x'*A\n  + y")
    assert (tree.line, tree.column) == (2, 3)


@pytest.mark.parametrize("text, shape", [
    ("x'*A*x", ()), ("A*x", ("n",)), ("x*y'", ("n", "m")), ("X'*X", ("m", "m")),
    ("diag(x)", ("n", "n")), ("x'*A", ("m",)),
])
def test_inferred_shapes(text, shape):
    assert matdiff.parse(text).shape == shape


def test_row_vector_orientation_is_recorded():
    assert matdiff.parse("x'*A").orientation == "row"
    assert matdiff.parse("A*x").orientation is None


def test_declarations_with_dimensions_share_symbols():
    e = matdiff.parse("x'*A*y", declare={"x": "vector(n)", "y": "vector(n)", "A": "matrix(n, n)"})
    assert e.variables["A"].shape == ("n", "n")
    with pytest.raises(matdiff.ShapeError):
        matdiff.parse("x + y", declare={"x": "vector(n)", "y": "vector(m)"})
    with pytest.raises(matdiff.ShapeError):
        matdiff.parse("x + y", declare={"x": "vector(3)", "y": "vector(4)"})


def test_default_types_by_first_letter():
    e = matdiff.parse("a*x + B*w1")
    assert e.variables["a"].shape == ()
    assert len(e.variables["x"].shape) == 1
    assert len(e.variables["B"].shape) == 2


def test_symmetric_declaration_is_square_and_checked_at_evaluation():
    e = matdiff.parse("x'*S*x", declare={"S": "symmetric matrix"})
    assert e.variables["S"].shape[0] == e.variables["S"].shape[1]
    with pytest.raises(matdiff.EvaluationError, match="symmetric"):
        e.evaluate({"x": x, "S": A})


@pytest.mark.parametrize("bad", [
    "x*y", "x + x'", "A*x*A", "x^2", "A / B", "inv(x)", "tr(x)", "softmax(A)", "diag(a)",
    "vector(x)", "x'*x'", "dot(A, B)", "A^x"])
def test_shape_errors(bad):
    # declared, as their first letters say: undeclared, each name's kind comes from its use
    # (x*y then multiplies by a scalar y; see test_kinds.py)
    declare = {"x": "vector", "y": "vector", "a": "scalar", "A": "matrix", "B": "matrix"}
    if bad in ("A*x*A", "A / B"):
        declare |= {"A": "matrix(3, 4)", "B": "matrix(3, 4)"}
    with pytest.raises(matdiff.ShapeError):
        matdiff.parse(bad, declare={n: k for n, k in declare.items() if n in bad})


def test_dims_bind_sizes_no_value_tells():
    assert np.array_equal(matdiff.parse("eye").evaluate({}, dims={"n": 2}), np.eye(2))
    with pytest.raises(matdiff.ShapeError):
        matdiff.parse("eye*x").evaluate({"x": np.ones(3)}, dims={"n": 2})
    with pytest.raises(matdiff.EvaluationError):
        matdiff.parse("eye").evaluate({}, dims={"n": 0})


def test_sizes_print_through_the_expressions_variables():
    assert str(matdiff.parse("numel(x)")) == "numel(x)"
    assert str(matdiff.diff("mean(x)", wrt="x")) == "vector(1, numel(x))/numel(x)"
    assert str(matdiff.diff("mean(X)", wrt="X")) == "matrix(1, size(X, 1), size(X, 2))/numel(X)"


def test_notebook_reprs_show_the_function_and_its_derivative():
    d = matdiff.diff("x'*A*x", wrt="x")
    md = d._repr_markdown_()
    assert md.startswith("$$") and "x^\\top A x" in md and d.latex() in md
    assert d._repr_latex_().startswith("$")
