"""Bad input: every error path raises a MatdiffError (a ValueError), quickly.

The contract (README.md, docs/language.md): "Every input error raises a
subclass of matdiff.MatdiffError, itself a ValueError, with a message that
names the problem and, for text, the position: never a TypeError,
IndexError, KeyError or RecursionError from inside the engine, and never a
hang." The engine issue adds: every syntax
error is a ParseError with line, column and a caret; a ShapeError names both
shapes, before any number is touched.
"""

from __future__ import annotations

import multiprocessing
import time
import warnings

import numpy as np
import pytest

import matdiff
from matdiff import EvaluationError, MatdiffError, ParseError, ShapeError

# Budgets are CPU seconds of the process doing the work (time.process_time), not wall
# time: on a machine shared with other jobs, wall time measures the neighbours too.
BUDGET = 2.0        # CPU seconds for an error to be raised
LONG_BUDGET = 5.0   # CPU seconds for very long or deeply nested input to finish
HANG = 120.0        # wall seconds after which a child that has not answered is a hang


def raises_quickly(kind, fn, budget: float = BUDGET):
    """Call fn; it must raise `kind` (a MatdiffError) within `budget` CPU seconds.

    Returns the error.
    """
    start = time.process_time()
    with pytest.raises(kind) as info:
        fn()
    elapsed = time.process_time() - start
    assert elapsed < budget, f"took {elapsed:.2f} CPU s to raise {info.value!r}"
    return info.value


def test_error_classes() -> None:
    assert issubclass(MatdiffError, ValueError)
    for kind in (ParseError, ShapeError, EvaluationError):
        assert issubclass(kind, MatdiffError)


# --------------------------------------------------------------------------- syntax errors

# text, (line, column) where the error should point (a set of acceptable columns)
SYNTAX_ERRORS = [
    ("", (1, {1})),
    ("   ", (1, {1, 2, 3, 4})),
    ("\n\n", (1, {1})),
    ("x +", (1, {3, 4})),
    ("x'*A*", (1, {5, 6})),
    ("(x", (1, {1})),
    ("((x)", (1, {1})),
    ("sum(x", (1, {4})),
    ("x)", (1, {2})),
    ("(x))", (1, {4})),
    ("x + * y", (1, {5})),
    ("* x", (1, {1})),
    ("x y", (1, {3})),
    ("x § y", (1, {3})),
    ("x % y", (1, {3})),
    ("x == y", (1, {3, 4})),
    ("x +\n * y", (2, {2})),
    ("x ^^ 2", (1, {4})),
    ("x .* .* y", (1, {6})),
    ("'x", (1, {1})),
    ("2x", (1, {2})),
    ("x, y", (1, {2})),
    ("sum(x,)", (1, {7})),
    ("()", (1, {2})),
]


@pytest.mark.parametrize(("text", "where"), SYNTAX_ERRORS, ids=[repr(t) for t, _ in SYNTAX_ERRORS])
def test_syntax_error_has_position_and_caret(text, where) -> None:
    e = raises_quickly(ParseError, lambda: matdiff.parse(text))
    line, columns = where
    assert (e.line, e.column) in {(line, c) for c in columns}, \
        f"{text!r}: error at line {e.line}, column {e.column}, expected {line}, {columns}"
    if text.strip():
        assert "^" in str(e), f"no caret in {str(e)!r}"


@pytest.mark.parametrize("text", ["", "x +", "(x", "frobnicate(x)"])
def test_diff_reports_syntax_errors_too(text) -> None:
    raises_quickly(ParseError, lambda: matdiff.diff(text, wrt="x"))


# --------------------------------------------------------------------------- functions

UNKNOWN_FUNCTIONS = ["frobnicate(x)", "expp(x)", "Exp(x)", "x(y)", "relu6(x)"]


@pytest.mark.parametrize("text", UNKNOWN_FUNCTIONS)
def test_unknown_function_is_named(text) -> None:
    e = raises_quickly(MatdiffError, lambda: matdiff.parse(text))
    assert text.split("(")[0] in str(e)


WRONG_ARGUMENT_COUNTS = [
    "exp(x, y)", "exp()", "max()", "max(x, y, z)", "min(x, y, z)", "dot(x)", "dot(x, y, z)",
    "tr()", "tr(A, B)", "sum()", "sum(x, y)", "inv(A, B)", "det()", "logdet(A, B)",
    "softmax()", "logsumexp(x, y)", "diag()", "norm2(x, y)", "vector()", "matrix(1, 2, 3, 4)",
]


@pytest.mark.parametrize("text", WRONG_ARGUMENT_COUNTS)
def test_wrong_argument_count_names_the_function(text) -> None:
    e = raises_quickly(MatdiffError, lambda: matdiff.parse(text))
    assert text.split("(")[0] in str(e), str(e)


# --------------------------------------------------------------------------- shapes

# text, declarations, the shape kinds the message must name (each as often as listed)
SHAPE_CONFLICTS = [
    ("x + A", {"x": "vector(3)", "A": "matrix(2, 3)"}, ["vector", "matrix"]),
    ("A - x", {"x": "vector(3)", "A": "matrix(2, 3)"}, ["vector", "matrix"]),
    ("x' + A", {"x": "vector(2)", "A": "matrix(2, 3)"}, ["row", "matrix"]),
    ("x - x'", None, ["vector", "row"]),
    ("x * y", None, ["vector", "vector"]),
    ("A * x * y", None, ["vector", "vector"]),
    ("x' * y'", None, ["row", "row"]),
    ("A .* x", {"x": "vector(3)", "A": "matrix(2, 3)"}, ["matrix", "vector"]),
    ("x ./ A", {"x": "vector(3)", "A": "matrix(2, 3)"}, ["vector", "matrix"]),
    ("x \u2299 A", {"x": "vector(3)", "A": "matrix(2, 3)"}, ["vector", "matrix"]),
    ("x \u00b7 A", None, ["vector", "matrix"]),
    ("dot(x, A)", None, ["vector", "matrix"]),
    ("max(x, A)", {"x": "vector(3)", "A": "matrix(2, 3)"}, ["vector", "matrix"]),
    ("min(A, x)", {"x": "vector(3)", "A": "matrix(2, 3)"}, ["vector", "matrix"]),
    ("b * x", {"b": "vector"}, ["vector", "vector"]),
]


@pytest.mark.parametrize(("text", "declare", "kinds"), SHAPE_CONFLICTS,
                         ids=[f"{t} {d or ''}" for t, d, _ in SHAPE_CONFLICTS])
def test_shape_conflict_names_both_shapes(text, declare, kinds) -> None:
    declare = {**by_first_letter(text), **(declare or {})}
    e = raises_quickly(ShapeError, lambda: matdiff.parse(text, declare=declare))
    message = str(e).split("\n")[0].lower()
    for kind in set(kinds):
        assert message.count(kind) >= kinds.count(kind), f"{kind!r} not named: {message!r}"
    assert e.line == 1 and e.column is not None


# ops that take one argument of a kind: the message names the argument's shape
WRONG_ARGUMENT_KIND = [
    ("tr(x)", "vector"), ("det(x)", "vector"), ("inv(x)", "vector"), ("logdet(a)", "scalar"),
    ("softmax(A)", "matrix"), ("logsumexp(A)", "matrix"), ("diag(a)", "scalar"),
    ("x ^ 2", "vector"), ("inv(a*x)", "vector"), ("x / y", "vector"),
]


@pytest.mark.parametrize(("text", "kind"), WRONG_ARGUMENT_KIND,
                         ids=[t for t, _ in WRONG_ARGUMENT_KIND])
def test_wrong_argument_kind(text, kind) -> None:
    e = raises_quickly(ShapeError, lambda: matdiff.parse(text, declare=by_first_letter(text)))
    assert kind in str(e).lower(), str(e)


def test_shape_errors_come_before_numbers() -> None:
    """diff fails on the text alone: no values are needed to find a shape error."""
    vector = {"x": "vector"}
    raises_quickly(ShapeError, lambda: matdiff.diff("x + x'", wrt="x", declare=vector))
    raises_quickly(ShapeError, lambda: matdiff.diff("tr(x) + x'*x", wrt="x", declare=vector))


def by_first_letter(text: str) -> dict[str, str]:
    """Every name of text declared as its first letter says (undeclared, a name's kind comes
    from its use first: these tests are about the errors of the first-letter kinds)."""
    import re

    from matdiff.language import RESERVED, default_kind

    return {n: default_kind(n) for n in re.findall(r"[A-Za-z]\w*", text) if n not in RESERVED}


# --------------------------------------------------------------------------- wrt, order, declare

def test_wrt_not_in_the_expression_is_named() -> None:
    e = raises_quickly(MatdiffError, lambda: matdiff.diff("x'*A*x", wrt="y"))
    assert "'y'" in str(e) or "y" in str(e).split()


@pytest.mark.parametrize("wrt", ["", None, 3, ["x", "x"], [], b"x", "x y", "2"])
def test_bad_wrt(wrt) -> None:
    raises_quickly(MatdiffError, lambda: matdiff.diff("x'*x", wrt=wrt))


def test_declared_but_absent_wrt_has_zero_derivative() -> None:
    """docs/language.md: a wrt declared but absent from the expression has a zero derivative."""
    x, y = np.arange(1.0, 4.0), np.arange(1.0, 5.0)
    got = np.asarray(matdiff.diff("x'*x", wrt="y", declare={"y": "vector"})
                     .evaluate({"x": x, "y": y}))
    assert got.shape == (4,) and np.all(got == 0)
    got = np.asarray(matdiff.diff("x", wrt="c", declare={"c": "scalar"})
                     .evaluate({"x": x, "c": 1.0}))
    assert got.shape == (3,) and np.all(got == 0)
    got = np.asarray(matdiff.diff("x", wrt="W", declare={"W": "matrix"})
                     .evaluate({"x": x, "W": np.ones((2, 2))}))
    assert got.shape == (3, 2, 2) and np.all(got == 0)


@pytest.mark.parametrize("order", [0, -1, 1.5, "2", True, None, [2]])
def test_bad_order(order) -> None:
    raises_quickly(MatdiffError, lambda: matdiff.diff("x'*x", wrt="x", order=order))


@pytest.mark.parametrize("declare", [
    {"x": "tensor"}, {"x": 3}, {"x": None}, {"x": ""}, {3: "vector"}, {"1x": "vector"},
    ["x"], "x=vector", 42,
], ids=repr)
def test_bad_declarations(declare) -> None:
    raises_quickly(MatdiffError, lambda: matdiff.diff("x'*x", wrt="x", declare=declare))


# --------------------------------------------------------------------------- non-string input

@pytest.mark.parametrize("text", [None, 3, 3.5, b"x", ["x"], {"x": 1}, object()], ids=repr)
def test_non_string_input(text) -> None:
    raises_quickly(MatdiffError, lambda: matdiff.parse(text))
    raises_quickly(MatdiffError, lambda: matdiff.diff(text, wrt="x"))


# --------------------------------------------------------------------------- values at evaluation

X3, A3 = np.arange(1.0, 4.0), np.eye(3) + 0.1


@pytest.fixture
def quadratic():
    return matdiff.diff("x'*A*x", wrt="x")


def test_missing_value_is_named(quadratic) -> None:
    e = raises_quickly(EvaluationError, lambda: quadratic.evaluate({"x": X3}))
    assert "A" in str(e)


@pytest.mark.parametrize(("label", "values"), [
    ("matrix for a vector", {"x": A3, "A": A3}),
    ("vector for a matrix", {"x": X3, "A": X3}),
    ("scalar for a vector", {"x": 1.0, "A": A3}),
    ("3-d array for a vector", {"x": X3.reshape(3, 1, 1), "A": A3}),
    ("inconsistent dimensions", {"x": X3, "A": np.eye(2)}),
    ("non-square where square is needed", {"x": X3, "A": np.ones((3, 2))}),
    ("text", {"x": "abc", "A": A3}),
    ("None", {"x": None, "A": A3}),
    ("an object", {"x": object(), "A": A3}),
    ("a ragged list", {"x": [1.0, [2.0], 3.0], "A": A3}),
    ("complex numbers", {"x": X3 * 1j, "A": A3}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_values(quadratic, label, values) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a value silently cast with a warning is not an answer
        raises_quickly(MatdiffError, lambda: quadratic.evaluate(values))


@pytest.mark.parametrize("values", [None, [1, 2], "x", 3], ids=repr)
def test_values_not_a_mapping(quadratic, values) -> None:
    raises_quickly(MatdiffError, lambda: quadratic.evaluate(values))


def test_vector_given_for_a_scalar() -> None:
    d = matdiff.diff("a*x", wrt="x")
    raises_quickly(MatdiffError, lambda: d.evaluate({"a": X3, "x": X3}))


@pytest.mark.parametrize("text", ["det(X)", "inv(X)", "logdet(X)", "tr(X)"])
def test_non_square_matrix_at_evaluation(text) -> None:
    d = matdiff.diff(text, wrt="X")
    raises_quickly(MatdiffError, lambda: d.evaluate({"X": np.ones((2, 3))}))
    raises_quickly(MatdiffError, lambda: matdiff.parse(text).evaluate({"X": np.ones((2, 3))}))


def test_singular_matrix_is_a_matdiff_error() -> None:
    """inv of a singular matrix: a MatdiffError, not numpy's LinAlgError."""
    singular = np.ones((3, 3))
    raises_quickly(MatdiffError, lambda: matdiff.parse("inv(X)").evaluate({"X": singular}))
    raises_quickly(MatdiffError, lambda: matdiff.diff("inv(X)", wrt="X").evaluate({"X": singular}))


def test_non_symmetric_value_for_a_symmetric_declaration() -> None:
    d = matdiff.diff("x'*S*x", wrt="x", declare={"S": "symmetric matrix"})
    raises_quickly(MatdiffError, lambda: d.evaluate({"x": np.ones(2),
                                                      "S": np.array([[1.0, 2.0], [0.0, 1.0]])}))


def test_unbound_dimension_at_evaluation() -> None:
    """A size that belongs only to a constant cannot be told from the values."""
    raises_quickly(MatdiffError, lambda: matdiff.parse("sum(vector(1))").evaluate({}))


def test_check_with_missing_wrt_value() -> None:
    d = matdiff.diff("x'*A*x", wrt="x")
    raises_quickly(MatdiffError, lambda: d.check(values={"A": A3}))


# --------------------------------------------------------------------------- long and deep input

def _nested(fn: str, depth: int, inner: str = "x") -> str:
    return f"{fn}(" * depth + inner + ")" * depth


LONG_INPUTS = [
    ("1000 nested brackets", "(" * 1000 + "x" + ")" * 1000, "x"),
    ("150 nested brackets", "(" * 150 + "x" + ")" * 150, "x"),
    ("100000 nested brackets", "(" * 100_000 + "x" + ")" * 100_000, "x"),
    ("150 nested exp", _nested("exp", 150), "x"),
    ("60 nested sin", _nested("sin", 60), "x"),
    ("5000 unary minus", "-" * 5000 + "x", "x"),
    ("5000 transposes", "x" + "'" * 5000, "x"),
    ("5000-term sum", "+".join(["x"] * 5000), "x"),
    ("2000 distinct variables", "+".join(f"x{i}" for i in range(2000)), "x7"),
    ("3000-factor scaling", "x" + "*a" * 3000, "x"),
    ("2000-level power tower", "^".join(["a"] * 2000), "a"),
    ("x'*A*...*A*x, 200 factors", "x'*" + "A*" * 200 + "x", "x"),
    ("200000 characters", "x+" * 100_000 + "x", "x"),
    ("unclosed after 50000 characters", "x+" * 25_000 + "(x", "x"),
]


def _derive_in_child(text: str, wrt: str, conn) -> None:
    start = time.process_time()
    try:
        d = matdiff.diff(text, wrt=wrt)
        outcome = ("result", str(d.shape))
    except MatdiffError as e:
        outcome = ("MatdiffError", str(e)[:200])
    except BaseException as e:  # noqa: BLE001 - reported to the parent as a failure
        outcome = (type(e).__name__, str(e)[:200])
    try:
        conn.send((*outcome, time.process_time() - start))
    finally:
        conn.close()


@pytest.mark.parametrize(("label", "text", "wrt"), LONG_INPUTS, ids=[t[0] for t in LONG_INPUTS])
def test_long_or_deep_input_finishes_fast(label, text, wrt) -> None:
    """A result or a clear MatdiffError within the budget; never a RecursionError or a hang.

    The derivation runs in a forked child so that a hang costs HANG seconds, not the
    suite; the budget is the child's own CPU time, which a loaded machine does not inflate.
    """
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_derive_in_child, args=(text, wrt, child))
    start = time.perf_counter()
    proc.start()
    child.close()
    finished = parent.poll(HANG)
    elapsed = time.perf_counter() - start
    if not finished:
        proc.kill()
        proc.join()
        pytest.fail(f"{label}: no result or error after {elapsed:.1f}s: a hang")
    outcome, message, cpu = parent.recv()
    proc.join()
    assert outcome in ("result", "MatdiffError"), f"{label}: {outcome}: {message}"
    assert message, f"{label}: an error without a message"
    assert cpu < LONG_BUDGET, f"{label}: {cpu:.1f} CPU s (budget {LONG_BUDGET})"


def test_long_input_evaluates() -> None:
    """The 5000-term sum is 5000 x: its derivative evaluates to 5000 I."""
    d = matdiff.diff("+".join(["x"] * 5000), wrt="x")
    got = np.asarray(d.evaluate({"x": X3}))
    assert np.allclose(got, 5000 * np.eye(3))
    d = matdiff.diff(_nested("exp", 3) + " + " + _nested("sin", 150), wrt="x")
    assert np.all(np.isfinite(np.asarray(d.evaluate({"x": X3 / 10}))))


# ---------------------------------------------------------------- constants that overflow

@pytest.mark.parametrize("text, column", [
    ("x/0", 2), ("x/(1-1)", 2), ("x.^2.^2.^2.^2.^2", 5), ("10^400*x", 3),
    ("x*1e308*1e308", 8), ("2^3^4^5^6^7", 8), ("(-8)^(1/3)*x", 5),
])
def test_constant_folding_that_overflows_is_an_error_at_its_operator(text, column, capsys):
    from matdiff.cli import main
    from matdiff.errors import ConstantError

    with pytest.raises(ConstantError) as info:
        matdiff.diff(text, wrt="x")
    assert (info.value.line, info.value.column) == (1, column)
    assert "internal error" not in str(info.value)
    assert main(["diff", text, "--wrt", "x"]) == 2
    err = capsys.readouterr().err
    assert f"column {column}" in err and "internal error" not in err
