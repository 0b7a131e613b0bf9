"""matdiff.evaluate: the reference interpreter, and how it binds values to shapes.

Each binding error names the variable (and, for a dimension, both places that
tell its size), so the user can fix the input; the wordings are matched
loosely, on those names, since one signature for every binder is planned
(issue 22). Op values are checked against NumPy in tests/test_op_rows.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff import EvaluationError, ShapeError
from matdiff.evaluate import DENSE_LIMIT, bind_values, evaluate

DECLARE = {"A": "matrix(m, n)", "x": "vector(n)", "S": "symmetric matrix(n, n)"}


@pytest.fixture(scope="module")
def e():
    return matdiff.parse("x'*S*x + sum(A*x)", declare=DECLARE)


def good() -> dict[str, np.ndarray]:
    return {"A": np.ones((2, 3)), "x": np.arange(3.0), "S": np.eye(3)}


def test_a_value_is_a_float64_scalar_or_a_fresh_array(e) -> None:
    got = evaluate(e.ir, good(), e.variables)
    assert isinstance(got, np.float64) and got == pytest.approx(5.0 + 2 * 3.0)
    A = matdiff.parse("A*x", declare=DECLARE)
    values = good()
    out = evaluate(A.ir, values, A.variables)
    assert out.dtype == np.float64 and out.flags.writeable
    assert not np.shares_memory(out, values["A"])


def test_integers_bools_and_lists_are_read_as_floats(e) -> None:
    values = {"A": [[1, 1, 1], [1, 1, 1]], "x": np.arange(3), "S": np.eye(3, dtype=bool)}
    got = evaluate(e.ir, values, e.variables)
    assert got == pytest.approx(11.0)


@pytest.mark.parametrize(("change", "kind", "words"), [
    ({"x": None}, EvaluationError, ["'x'"]),
    ({"x": np.array(["a", "b", "c"])}, EvaluationError, ["'x'", "real"]),
    ({"x": np.ones((3, 1))}, EvaluationError, ["'x'", "(3, 1)"]),
    ({"x": np.ones(4)}, ShapeError, ["dimension n", "'x'"]),
    ({"S": np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])}, EvaluationError,
     ["'S'", "symmetric"]),
    ({"x": np.array([0.0, np.nan, 1.0])}, EvaluationError, ["'x'", "NaN"]),
])
def test_binding_errors_name_the_variable(e, change, kind, words) -> None:
    values = {**good(), **change}
    if change.get("x", 0) is None:
        del values["x"]
    with pytest.raises(kind) as caught:
        evaluate(e.ir, values, e.variables)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_values_must_be_a_mapping(e) -> None:
    with pytest.raises(EvaluationError, match="dict"):
        evaluate(e.ir, [1.0, 2.0], e.variables)


def test_a_fixed_size_is_checked() -> None:
    f = matdiff.parse("sum(v)", declare={"v": "vector(3)"})
    with pytest.raises(ShapeError, match="'v'"):
        evaluate(f.ir, {"v": np.ones(4)}, f.variables)


def test_a_variable_a_derivative_lost_still_binds_its_dimension() -> None:
    """d(w + x)/dw is eye(n): n comes from x's value, through `variables`."""
    d = matdiff.diff("w + x", wrt="w", declare={"w": "vector(n)", "x": "vector(n)"})
    got = evaluate(d.ir, {"w": np.ones(2), "x": np.ones(2)}, d.variables)
    np.testing.assert_array_equal(got, np.eye(2))


def test_dims_bind_what_no_value_tells_and_must_agree() -> None:
    eye = matdiff.diff("w + x", wrt="w", declare={"w": "vector(n)", "x": "vector(n)"}).ir
    np.testing.assert_array_equal(evaluate(eye, {}, dims={"n": 4}), np.eye(4))
    with pytest.raises(EvaluationError, match="whole number"):
        evaluate(eye, {}, dims={"n": 0})
    with pytest.raises(EvaluationError, match="n"):
        evaluate(eye, {})
    A = matdiff.parse("A*x", declare=DECLARE)
    with pytest.raises(ShapeError, match="n"):
        evaluate(A.ir, good(), A.variables, dims={"n": 5})


def test_finite_differences_may_step_off_a_symmetric_value(e) -> None:
    values = {**good(), "S": np.eye(3) + np.triu(np.ones((3, 3)), 1) * 1e-3}
    arrays, dims = bind_values(e.ir, values, e.variables, check_symmetric=False)
    assert dims == {"m": 2, "n": 3} and set(arrays) == {"A", "x", "S"}


def test_a_dense_tensor_beyond_the_limit_is_refused_before_it_is_built() -> None:
    n = int(DENSE_LIMIT ** 0.25) + 2
    d = matdiff.diff("X", wrt="X", declare={"X": "matrix"})
    with pytest.raises(EvaluationError, match="limit"):
        d.evaluate({"X": np.zeros((n, n))})
