"""Blocks `[a; b]`, `[a, b]` and the extreme along an axis `max(X, [], d)` (docs/language.md).

Values against NumPy, derivatives against finite differences to second order (the op rows
in test_op_rows.py cover more), printed text that parses back and evaluates to the same,
LaTeX, every code-generation backend, and the errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import matdiff
from conftest import assert_matches, check_derivative
from matdiff.verify import random_values


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)
        return fn(*a, **kw)


def test_the_article_vector_chain_rule_example():
    e = quiet(matdiff.parse, "[log(x^2); sin(3*x)]")
    assert e.assumptions == {"x": "scalar"} and e.shape == (2,)
    d = quiet(matdiff.diff, "[log(x^2); sin(3*x)]", wrt="x")
    assert str(d) == "[2/x; 3*cos(3*x)]"  # the article: [2/x; 3 cos(3x)]
    assert d.latex() == r"\begin{bmatrix} \frac{2}{x} \\ 3 \cos\left(3 x\right) \end{bmatrix}"
    check_derivative("[log(x^2); sin(3*x)]", "x", {"x": 0.7},
                     lambda v: np.array([np.log(v["x"] ** 2), np.sin(3 * v["x"])]), order=2)


@pytest.mark.parametrize(("text", "shape"), [
    ("[x; y]", ("n+m",)), ("[a; x]", ("n+1",)), ("[a, b; c, d]", (2, 2)), ("[x, y]", ("n", 2)),
    ("[A, B]", ("n", "m+p")), ("[A; x']", ("n+1", "m")), ("[x', y']", ("n+m",)),
])
def test_joined_sizes(text, shape):
    assert quiet(matdiff.parse, text).shape == shape


@pytest.mark.parametrize(("text", "wrt"), [
    ("[h; x]", "h"), ("W*[h; x]", "h"), ("tanh(W*[h; x] + b)", "x"), ("[a, b; c, d]*x", "c"),
    ("sum([x; a].^2)", "a"), ("[x'; A]*y", "y"), ("max(X, [], 2)", "X"),
    ("X - max(X, [], 2)", "X"), ("sum(min(X*W, [], 1))", "W"),
    # a row from an axis (max(X, [], 1)) stays a row through eq() and softmax() in print
    ("logsumexp(max(X, [], 1)')", "X"), ("max(max(Z, [], 1))", "Z"),
])
def test_printed_derivatives_parse_back_and_check(text, wrt):
    declare = {"b": "vector"} if "b)" in text else None
    d = quiet(matdiff.diff, text, wrt=wrt, declare=declare)
    assert d.check() < 1e-6
    assert quiet(matdiff.diff, text, wrt=wrt, order=2, declare=declare).check() < 1e-6
    printed = str(d)
    if "T[" not in printed:  # index notation (3 or more axes) does not parse back
        values = random_values(d.variables, 3)
        back = quiet(matdiff.parse, printed, declare=declare).evaluate(values)
        assert_matches(back, d.evaluate(values), what=printed)


def test_zero_blocks_are_written_through_variables():
    d = quiet(matdiff.diff, "[h; x]", wrt="h")
    assert str(d) == "[eye; 0*x*h']"
    assert d.latex() == r"\begin{bmatrix} I \\ 0 \end{bmatrix}"
    assert str(quiet(matdiff.diff, "sum([x; a].^2)", wrt="a")) == "2*a"


def test_an_rnn_gate_program():
    program = "z = W*[h; x] + b\nhn = tanh(z)\nL = sum((V*hn - y).^2)"
    g = quiet(matdiff.grad, program, wrt=["W", "h", "x", "b"], declare={"b": "vector"})
    for name in ("W", "h", "x", "b"):
        assert g[name].check() < 1e-6, name
    assert "dW = dz*[h; x]'" in str(g)
    f = quiet(matdiff.value_and_grad, program, wrt=["h"], declare={"b": "vector"})
    values = random_values(g.function.variables, 0)
    value, (dh,) = f(**values)
    assert_matches(dh, g["h"].evaluate(values))


def test_a_stable_softmax_by_hand():
    text = "exp(X - max(X, [], 2))./sum(exp(X - max(X, [], 2)), 2)"
    X = np.array([[1000.0, 1001.0, 999.0], [-2.0, 0.5, 0.1]])
    got = quiet(matdiff.parse, text).evaluate({"X": X})
    e = np.exp(X - X.max(1, keepdims=True))
    assert_matches(got, e / e.sum(1, keepdims=True))
    d = quiet(matdiff.diff, f"sum(sum(Y .* log({text})))", wrt="X")
    assert d.check() < 1e-6


def test_axis_extremum_ties_split_evenly_per_row():
    d = quiet(matdiff.diff, "sum(max(X, [], 2))", wrt="X")
    X = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    assert_matches(d.evaluate({"X": X}), np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]))
    assert str(quiet(matdiff.parse, "min(X, [], 1)")) == "min(X, [], 1)"
    assert r"\max\left(X, [\,], 2\right)" in quiet(matdiff.parse, "max(X, [], 2)").latex()


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "array-api", "dask"])
def test_every_backend(backend):
    if backend in ("torch", "jax", "dask"):
        pytest.importorskip(backend if backend != "dask" else "dask.array")
    for text, wrt in [("tanh(W*[h; x] + b)", "x"), ("[a, b; c, d]", "c"),
                      ("X - max(X, [], 2)", "X"), ("sum(min(X, [], 1))", "X")]:
        d = quiet(matdiff.diff, text, wrt=wrt, declare={"b": "vector"} if "b)" in text else None)
        values = random_values(d.variables, 2)
        want = d.evaluate(values)
        args = dict(values)
        if backend == "torch":
            import torch
            args = {k: torch.tensor(np.asarray(v)) for k, v in values.items()}
        elif backend == "jax":
            import jax.numpy as jnp
            args = {k: jnp.asarray(v) for k, v in values.items()}
        elif backend == "dask":
            import dask.array as da
            args = {k: da.from_array(np.asarray(v)) if np.ndim(v) else v
                    for k, v in values.items()}
        fn = d.compile() if backend == "numpy" else d.compile(backend=backend)
        got = fn(**args)
        got = np.asarray(got.compute() if hasattr(got, "compute") else got, dtype=np.float64)
        assert_matches(got, want, rtol=1e-5, atol=1e-6, what=f"{backend}: d {text}")


def test_a_semicolon_inside_brackets_is_no_statement():
    assert matdiff.parse("[a; b]", declare={"a": "scalar", "b": "scalar"}).shape == (2,)
    p = quiet(matdiff.parse, "v = [a;\n b]\nsum(v.*v)")
    assert p.program is not None and p.shape == ()


def test_sizes_of_a_join_are_told_by_its_parts():
    e = quiet(matdiff.parse, "[x; y] + z")
    assert e.variables["z"].shape == ("n+m",)
    x, y = np.ones(2), np.ones(3)
    assert_matches(e.evaluate({"x": x, "y": y, "z": np.arange(5.0)}), 1 + np.arange(5.0))
    with pytest.raises(matdiff.ShapeError, match="add up to 5"):
        e.evaluate({"x": x, "y": y, "z": np.ones(4)})
    assert matdiff.parse("f", declare={"f": "vector(n+m)"}).shape == ("n+m",)


@pytest.mark.parametrize(("text", "declare", "words"), [
    ("[x, A]", {"x": "vector(3)", "A": "matrix(4, 2)"}, "side by side"),
    ("[x; A]", {"x": "vector", "A": "matrix"}, "stacks blocks of one width"),
    ("[x; y] + x", {"x": "vector", "y": "vector"}, "a vector (n+m) and a vector (n)"),
    ("[x; y", None, "never closed"),
    ("(x; y]", None, "closes '('"),
    ("[] * x", None, "stands only in max"),
    ("[]", None, "stands only in max"),
    ("max([], [], 1)", None, "not [] (the empty matrix)"),
    ("[x y]", None, "separate the entries of a row with ','"),
    ("v = []\nsum(v)", None, "stands only in max"),
])
def test_bad_blocks_are_clear_errors(text, declare, words):
    with pytest.raises(matdiff.MatdiffError) as info:
        quiet(matdiff.parse, text, declare=declare)
    assert words in str(info.value)
    assert info.value.line == 1 and info.value.column is not None


@pytest.mark.parametrize(("text", "words"), [
    ("x**2", "'**' is not an operator"),
    ("x.^T", "write x' for the transpose of x"),
])
def test_hints(text, words):
    with pytest.raises(matdiff.MatdiffError, match=words.replace("*", r"\*")):
        matdiff.parse(text)


@pytest.mark.parametrize("backend", [None, "torch"])
def test_compiled_functions_check_a_joined_size_against_its_parts(backend):
    if backend:
        pytest.importorskip(backend)
    d = quiet(matdiff.diff, "tanh(W*[h; x] + b)", wrt="h", declare={"b": "vector"})
    fn = d.compile(backend=backend) if backend else d.compile()
    wrap = np.asarray
    if backend == "torch":
        import torch

        def wrap(a):
            return torch.tensor(a)
    good = {"W": wrap(np.ones((2, 5))), "h": wrap(np.ones(3)), "x": wrap(np.ones(2)),
            "b": wrap(np.ones(2))}
    assert tuple(fn(**good).shape) == (2, 3)
    with pytest.raises(matdiff.ShapeError, match="m\\+p is 6, but its parts add up to 5"):
        fn(**{**good, "W": wrap(np.ones((2, 6)))})


# ---------------------------------------------------------------- blocks of identities

N = {"A": "matrix(n, n)"}


@pytest.mark.parametrize(("text", "wrt", "declare", "printed"), [
    # a variable in a join: the identity blocks come out as a join of identities
    ("sum(sum(softmax([A; A], 2).^2))", "A", N,
     "[eye, eye]*(2*softmax([A; A], 2).^2 - 2*diag(sum(softmax([A; A], 2).^2, 2))"
     "*softmax([A; A], 2))"),
    ("sum(sum(exp([A, A])))", "A", None, "exp([A, A])*[eye; eye]"),
    ("sum(sum(exp([A, A; A, A])))", "A", None, "[eye, eye]*exp([A, A; A, A])*[eye; eye]"),
    ("sum(sum(softmax([2*A; A], 2)))", "A", None, None),
    ("sum(sum([A, eye].^2))", "A", N, "2*A"),
    ("[x; y]'*[x; y]", "x", None, "2*x"),
    ("sum(softmax([x; y]).^2)", "x", None, None),
    ("sum(sum(softmax([A; A], 2)))", "A", N, "matrix(0, size(A, 1), size(A, 1))"),
    ("sum(sum(([eye, eye]*B).^2))", "B", None, "2*[eye; eye]*[eye, eye]*B"),
    # blocks of different kinds: each takes its own rows of the gradient (block-select)
    ("sum(sum(exp([A'; A])))", "A", N,
     "exp([A, A'])*[eye; matrix(0, size(A, 1), size(A, 1))]"
     " + [matrix(0, size(A, 1), size(A, 1)), eye]*exp([A'; A])"),
    ("sum(sum(exp([A, 2*A; B, A])))", "A", None, None),
    ("sum(sum(exp([A; B])))", "A", None, "[eye, matrix(0, size(A, 1), size(B, 1))]*exp([A; B])"),
    # a size that is part of a variable's joined length: the whole less the rest
    ("[x; vector(1)]'*w", "w", None, "[x; vector(1, numel(w) - numel(x))]"),
    ("[x; vector(1)]'*w", "x", None, "[eye, matrix(0, numel(x), numel(w) - numel(x))]*w"),
    ("w'*[x; vector(1)]", "w", None, "[x; vector(1, numel(w) - numel(x))]"),
    # a sum across identities is a constant, sized through B (block-sum)
    ("sum(sum([eye, eye]*B))", "B", None, "matrix(1, size(B, 1), size(B, 2))"),
])
def test_identity_blocks_read_back(text, wrt, declare, printed):
    """Identities in a join, typed or made by the derivative, read back from the text alone:
    a join's length (n+n) ties its parts (m+m = n+n makes m = n), evaluation solves a
    repeated part (n+n = 6), and a size no variable has whole prints as a sum of
    sizes (`vector(1, numel(x) + numel(y))`, a step's); every text, step and layout is
    checked by printed_truth. Was: index notation, shape errors, unsized steps."""
    from printed_truth import check_derivative as check_printed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = matdiff.diff(text, wrt=wrt, declare=declare)
    if printed is not None:
        assert d.to_text() == printed
    assert "δ" not in d.to_text()
    check_printed(d)
    assert d.check() < 1e-6


def test_a_join_of_identities_types_from_use():
    """[eye, eye]*softmax([A; A], 2): the identities' size is A's rows, from the inner
    dimension m+m = n+n; it was a shape error. Evaluation tells n from A alone."""
    e = matdiff.parse("[eye, eye]*softmax([A; A], 2)", declare={"A": "matrix"})
    A = np.arange(6.0).reshape(3, 2) / 6
    s = np.exp(A) / np.exp(A).sum(1, keepdims=True)
    assert_matches(e.evaluate({"A": A}), 2 * s)
    e = matdiff.parse("[eye, eye]*B", declare={"B": "matrix"})
    assert e.evaluate({"B": np.ones((6, 2))}).shape == (3, 2)
    with pytest.raises(matdiff.MatdiffError, match="cannot add up"):
        e.evaluate({"B": np.ones((5, 2))})
    # compiled, the same: the identities' size told by B's rows
    d = matdiff.diff("sum(sum(([eye, eye]*B).^2))", wrt="B")
    B = np.arange(12.0).reshape(6, 2)
    assert_matches(d.compile()(B=B), d.evaluate({"B": B}))
    with pytest.raises(matdiff.MatdiffError, match="cannot add up"):
        d.compile()(B=np.ones((5, 2)))
