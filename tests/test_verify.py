"""matdiff.verify: finite differences, the random values they are taken at, and check.

`finite_difference` is checked against closed forms, `random_values` for the
promises the checks rely on (one size per symbolic dimension, between 2 and 4;
declared symmetry and labels kept; positive when asked; reproducible from the
seed), and `check` for telling a right derivative from a wrong one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import matdiff
from matdiff.derive import differentiate
from matdiff.verify import check, finite_difference, random_values, values_in_domain

A = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])


def test_finite_difference_of_a_linear_map_is_the_matrix() -> None:
    x = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(finite_difference(lambda v: A @ v, x, None), A, atol=1e-9)


def test_finite_difference_has_shape_f_then_x() -> None:
    X = np.arange(6.0).reshape(2, 3)
    jac = finite_difference(lambda V: V.T, X, None)  # f: 3 x 2, x: 2 x 3
    assert jac.shape == (3, 2, 2, 3)
    assert jac[1, 0, 0, 1] == pytest.approx(1.0) and jac[1, 0, 1, 0] == pytest.approx(0.0)
    quadratic = finite_difference(lambda v: float(v @ v), np.array([1.0, -2.0]), None)
    np.testing.assert_allclose(quadratic, [2.0, -4.0], atol=1e-8)


def test_finite_difference_along_directions_stacks_them() -> None:
    x = np.array([0.3, -1.0, 2.0])
    u = [np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 1.0])]
    got = finite_difference(lambda v: A @ v, x, u)
    np.testing.assert_allclose(got, np.stack([A @ d for d in u]), atol=1e-9)


def _variables(declare: dict[str, str]):
    text = " + ".join(f"sum({name})" for name in declare)
    return matdiff.parse(text, declare=declare).variables


def test_random_values_give_one_size_per_dimension_between_2_and_4() -> None:
    variables = _variables({"A": "matrix(m, n)", "x": "vector(n)", "y": "vector(m)",
                            "z": "vector(3)", "s": "scalar"})
    for seed in range(5):
        v = random_values(variables, seed)
        m, n = v["A"].shape
        assert v["x"].shape == (n,) and v["y"].shape == (m,) and 2 <= m <= 4 and 2 <= n <= 4
        assert v["z"].shape == (3,) and np.ndim(v["s"]) == 0
    again = random_values(variables, 3)
    assert all(np.array_equal(again[k], random_values(variables, 3)[k]) for k in again)


def test_random_values_keep_declarations_and_positivity() -> None:
    variables = _variables({"S": "symmetric matrix", "p": "distribution vector",
                            "B": "matrix(k, k)", "w": "vector"})
    v = random_values(variables, 1)
    np.testing.assert_allclose(v["S"], v["S"].T)
    assert np.all(v["p"] > 0) and v["p"].sum() == pytest.approx(1.0)
    assert np.linalg.cond(v["B"]) < 100  # square matrices are well conditioned
    assert np.all(random_values(variables, 1, positive=True)["w"] > 0)
    assert np.all(np.abs(random_values(variables, 1, scale=0.5)["w"]) <= 0.75)


def test_check_tells_a_right_derivative_from_a_wrong_one() -> None:
    e = matdiff.parse("x'*A*x", declare={"A": "matrix(n, n)", "x": "vector(n)"})
    right = differentiate(e.ir, e.variables["x"])
    wrong = differentiate(matdiff.parse("x'*A'*A*x", declare={"A": "matrix(n, n)",
                                                               "x": "vector(n)"}).ir,
                          e.variables["x"])
    assert check(right, e.ir, "x", variables=e.variables) < 1e-6
    assert check(wrong, e.ir, "x", variables=e.variables) > 1e-3
    with pytest.raises(matdiff.MatdiffError, match="'x'"):
        check(right, e.ir, "x", variables=e.variables, values={"A": np.eye(2)})


def test_check_draws_points_where_the_kink_is_active():
    for seed in range(6):
        d = matdiff.diff("max(0, w'*x + b)", wrt="w")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # neither "zero everywhere" nor anything else
            assert d.check(seed=seed) < 1e-6
        values = values_in_domain(d.ir, d.variables, d.function.ir, seed)
        assert np.any(d.evaluate(values)), seed


def test_check_warns_when_the_derivative_was_zero_everywhere_checked():
    d = matdiff.diff("max(0, w'*x + b)", wrt="w")
    values = {"w": np.ones(3), "x": np.ones(3), "b": -10.0}
    with pytest.warns(UserWarning, match="zero everywhere it was checked"):
        assert d.check(values) == 0.0
