"""Every derivation in the seed notes, one test each.

The notes follow explained.ai's "The Matrix Calculus You Need For Deep
Learning". Each test compares matdiff with the closed form the notes derive
(evaluated in NumPy) and with central finite differences of a NumPy
implementation. matdiff's convention (docs/language.md) is shape(f) + shape(x):
the notes' row vectors (numerator layout, e.g. x^T) come out as 1-D arrays
of the shape of x, and Jacobians as (len f) x (len x) matrices.

Where the notes slip, the test follows the mathematics and says so.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import as_array, assert_matches, away_from_zero, check_derivative, positive, uniform

N = 4


@pytest.fixture
def wx(rng):
    """w and x as in the notes (entries away from zero so that ./ is defined)."""
    return away_from_zero(rng, N), away_from_zero(rng, N)


def derivative(text, wrt, values, declare=None, order=1):
    return as_array(matdiff.diff(text, wrt=wrt, declare=declare, order=order).evaluate(values))


# --------------------------------------------------------------------------- the Jacobian

def test_jacobian_rows_are_the_gradients_of_the_components(rng):
    """dy/dx stacks the gradients of f_1..f_m as rows: an m x n matrix (numerator layout)."""
    W, x = uniform(rng, (2, 3)), uniform(rng, 3)
    values = {"W": W, "x": x}
    J = check_derivative("tanh(W*x)", "x", values, lambda v: np.tanh(v["W"] @ v["x"]))
    assert J.shape == (2, 3)
    for i in range(2):  # row i is the gradient of f_i(x) = tanh(w_i . x)
        grad_i = derivative("tanh(w'*x)", "x", {"w": W[i], "x": x})
        assert_matches(J[i], grad_i, what=f"row {i} of the Jacobian")
        assert_matches(J[i], (1 - np.tanh(W[i] @ x) ** 2) * W[i], what=f"closed form of row {i}")


def test_jacobian_of_a_linear_map_is_the_matrix(rng):
    """d(W*x)/dx = W, m x n, not its transpose."""
    W, x = uniform(rng, (2, 3)), uniform(rng, 3)
    got = check_derivative("W*x", "x", {"W": W, "x": x}, lambda v: v["W"] @ v["x"])
    assert_matches(got, W)


def test_layouts_of_the_three_kinds_of_derivative(rng):
    """Vector-by-scalar: shape (m,); scalar-by-vector: shape (n,); vector-by-vector: (m, n)."""
    x, a, W = uniform(rng, 2), uniform(rng), uniform(rng, (2, 3))
    y = uniform(rng, 3)
    assert derivative("x*a", "a", {"x": x, "a": a}).shape == (2,)
    assert derivative("y'*y", "y", {"y": y}).shape == (3,)
    assert derivative("W*y", "y", {"W": W, "y": y}).shape == (2, 3)


# ---------------------------------------------------------------- scalar rules (2nd note)

def test_scalar_chain_example_9_x_plus_x_squared(rng):
    """The article's scalar example: d/dx 9(x + x^2) = 9(1 + 2x)."""
    a = uniform(rng)
    got = check_derivative("9*(a + a^2)", "a", {"a": a}, lambda v: 9 * (v["a"] + v["a"] ** 2))
    assert_matches(got, 9 * (1 + 2 * a))


def test_partial_derivatives_of_3_x2_y(rng):
    """f(x, y) = 3x^2 y: df/dx = 6yx, df/dy = 3x^2 (the 2nd note's partials example)."""
    a, b = uniform(rng), uniform(rng)
    values = {"a": a, "b": b}
    f = lambda v: 3 * v["a"] ** 2 * v["b"]  # noqa: E731
    assert_matches(check_derivative("3*a^2*b", "a", values, f), 6 * b * a)
    assert_matches(check_derivative("3*a^2*b", "b", values, f), 3 * a ** 2)


def test_partials_of_the_product_xy(rng):
    """d(xy)/dx = y and d(xy)/dy = x."""
    a, b = uniform(rng), uniform(rng)
    assert_matches(derivative("a*b", "a", {"a": a, "b": b}), b)
    assert_matches(derivative("a*b", "b", {"a": a, "b": b}), a)


# ---------------------------------------------------------------- element-wise binary ops

def test_w_plus_x_wrt_w_is_identity(wx):
    w, x = wx
    got = check_derivative("w + x", "w", {"w": w, "x": x}, lambda v: v["w"] + v["x"])
    assert_matches(got, np.eye(N))


def test_w_plus_x_wrt_x_is_identity(wx):
    w, x = wx
    got = check_derivative("w + x", "x", {"w": w, "x": x}, lambda v: v["w"] + v["x"])
    assert_matches(got, np.eye(N))


def test_w_minus_x_wrt_w_is_identity(wx):
    w, x = wx
    got = check_derivative("w - x", "w", {"w": w, "x": x}, lambda v: v["w"] - v["x"])
    assert_matches(got, np.eye(N))


def test_w_minus_x_wrt_x_is_minus_identity(wx):
    w, x = wx
    got = check_derivative("w - x", "x", {"w": w, "x": x}, lambda v: v["w"] - v["x"])
    assert_matches(got, -np.eye(N))


@pytest.mark.parametrize("op", [".*", "\u2297", "\u2299", "\u2218"])
def test_w_times_x_wrt_w_is_diag_x(wx, op):
    """d(w ⊗ x)/dw = diag(x) (the notes write ⊗ for the element-wise product)."""
    w, x = wx
    got = check_derivative(f"w {op} x", "w", {"w": w, "x": x}, lambda v: v["w"] * v["x"])
    assert_matches(got, np.diag(x))


@pytest.mark.parametrize("op", [".*", "\u2297"])
def test_w_times_x_wrt_x_is_diag_w(wx, op):
    w, x = wx
    got = check_derivative(f"w {op} x", "x", {"w": w, "x": x}, lambda v: v["w"] * v["x"])
    assert_matches(got, np.diag(w))


@pytest.mark.parametrize("op", ["./", "\u2298"])
def test_w_over_x_wrt_w_is_diag_of_reciprocals(wx, op):
    """d(w ⊘ x)/dw = diag(1/x_i)."""
    w, x = wx
    got = check_derivative(f"w {op} x", "w", {"w": w, "x": x}, lambda v: v["w"] / v["x"])
    assert_matches(got, np.diag(1 / x))


@pytest.mark.parametrize("op", ["./", "\u2298"])
def test_w_over_x_wrt_x_is_diag_of_minus_w_over_x_squared(wx, op):
    """The notes stop at dw; by the same rule d(w ⊘ x)/dx = diag(-w_i / x_i^2)."""
    w, x = wx
    got = check_derivative(f"w {op} x", "x", {"w": w, "x": x}, lambda v: v["w"] / v["x"])
    assert_matches(got, np.diag(-w / x ** 2))


# --------------------------------------------------------------------------- scalar expansion

SCALAR_Z = {"z": "scalar"}


def test_x_plus_z_wrt_x_is_identity(rng):
    x, z = uniform(rng, N), uniform(rng)
    got = check_derivative("x + z", "x", {"x": x, "z": z}, lambda v: v["x"] + v["z"],
                           declare=SCALAR_Z)
    assert_matches(got, np.eye(N))


def test_x_plus_z_wrt_z_is_ones(rng):
    x, z = uniform(rng, N), uniform(rng)
    got = check_derivative("x + z", "z", {"x": x, "z": z}, lambda v: v["x"] + v["z"],
                           declare=SCALAR_Z)
    assert_matches(got, np.ones(N))


@pytest.mark.parametrize("text", ["x * z", "x .* z", "x \u2297 z"])
def test_x_times_z_wrt_x_is_identity_times_z(rng, text):
    x, z = uniform(rng, N), uniform(rng)
    got = check_derivative(text, "x", {"x": x, "z": z}, lambda v: v["x"] * v["z"],
                           declare=SCALAR_Z)
    assert_matches(got, np.eye(N) * z)


@pytest.mark.parametrize("text", ["x * z", "x .* z", "x \u2297 z"])
def test_x_times_z_wrt_z_is_x(rng, text):
    x, z = uniform(rng, N), uniform(rng)
    got = check_derivative(text, "z", {"x": x, "z": z}, lambda v: v["x"] * v["z"],
                           declare=SCALAR_Z)
    assert_matches(got, x)


# --------------------------------------------------------------------------- sum reduction

def test_sum_x_gradient_is_ones(rng):
    x = uniform(rng, N)
    got = check_derivative("sum(x)", "x", {"x": x}, lambda v: np.sum(v["x"]))
    assert_matches(got, np.ones(N))


def test_sum_of_f_x_is_the_sum_of_the_jacobian_rows(rng):
    """dy/dx of y = sum(f(x)) is the column sums of df/dx: here f = sin(x) .* x."""
    x = uniform(rng, N)
    J = derivative("sin(x) .* x", "x", {"x": x})
    got = check_derivative("sum(sin(x) .* x)", "x", {"x": x},
                           lambda v: np.sum(np.sin(v["x"]) * v["x"]))
    assert_matches(got, J.sum(axis=0))


def test_sum_x_z_wrt_x_is_z(rng):
    x, z = uniform(rng, N), uniform(rng)
    got = check_derivative("sum(x * z)", "x", {"x": x, "z": z}, lambda v: np.sum(v["x"] * v["z"]),
                           declare=SCALAR_Z)
    assert_matches(got, np.full(N, z))


def test_sum_x_z_wrt_z_is_sum_x(rng):
    x, z = uniform(rng, N), uniform(rng)
    got = check_derivative("sum(x * z)", "z", {"x": x, "z": z}, lambda v: np.sum(v["x"] * v["z"]),
                           declare=SCALAR_Z)
    assert_matches(got, np.sum(x))


# --------------------------------------------------------------------------- chain rules

def test_single_variable_chain_rule(rng):
    """dy/dx = dy/du du/dx: y = sin(u), u = x^2 gives cos(x^2) 2x."""
    a = uniform(rng)
    got = check_derivative("sin(a^2)", "a", {"a": a}, lambda v: np.sin(v["a"] ** 2))
    assert_matches(got, np.cos(a ** 2) * 2 * a)


def test_single_variable_total_derivative_chain_rule(rng):
    """f(x, u1, u2) = x u1 u2 with u1 = sin(x), u2 = exp(x):
    df/dx = df/dx|direct + df/du1 du1/dx + df/du2 du2/dx."""
    a = uniform(rng)
    got = check_derivative("a * sin(a) * exp(a)", "a", {"a": a},
                           lambda v: v["a"] * np.sin(v["a"]) * np.exp(v["a"]))
    direct = np.sin(a) * np.exp(a)
    via_u1 = a * np.exp(a) * np.cos(a)
    via_u2 = a * np.sin(a) * np.exp(a)
    assert_matches(got, direct + via_u1 + via_u2)


def test_vector_chain_rule(rng):
    """d f(g(x))/dx = (df/dg)(dg/dx): g = W*x (k x n), f = V*tanh(g) (m x k)."""
    W, Vm, x = uniform(rng, (3, 4)), uniform(rng, (2, 3)), uniform(rng, 4)
    values = {"W": W, "V": Vm, "x": x}
    got = check_derivative("V*tanh(W*x)", "x", values, lambda v: v["V"] @ np.tanh(v["W"] @ v["x"]))
    df_dg = Vm @ np.diag(1 - np.tanh(W @ x) ** 2)
    dg_dx = W
    assert_matches(got, df_dg @ dg_dx)


def test_element_wise_chain_rule_is_diagonal(rng):
    """f_i depends on g_i only and g_i on x_i only: df/dx = diag(df_i/dg_i dg_i/dx_i)."""
    x = uniform(rng, N)
    got = check_derivative("sin(x .^ 2)", "x", {"x": x}, lambda v: np.sin(v["x"] ** 2))
    assert_matches(got, np.diag(np.cos(x ** 2) * 2 * x))


# --------------------------------------------------------------------------- the neuron

NEURON = "max(0, w'*x + b)"
SCALAR_B = {"b": "scalar"}


def _neuron_values(rng, active: bool):
    w, x = positive(rng, N), positive(rng, N)
    z = w @ x
    b = 1.0 - z if active else -1.0 - z      # z + b = +1 or -1: well away from the kink
    return {"w": w, "x": x, "b": np.float64(b)}


def _neuron(v):
    return np.maximum(0.0, v["w"] @ v["x"] + v["b"])


def test_dot_product_is_sum_of_element_wise_product(rng):
    """w · x = sum(w ⊗ x); d/dw = 1^T diag(x) = x^T."""
    w, x = uniform(rng, N), uniform(rng, N)
    for text in ["w \u00b7 x", "sum(w \u2297 x)", "dot(w, x)", "w'*x"]:
        got = check_derivative(text, "w", {"w": w, "x": x}, lambda v: v["w"] @ v["x"])
        assert_matches(got, x, what=text)


def test_affine_part_wrt_b_is_one(rng):
    w, x, b = uniform(rng, N), uniform(rng, N), uniform(rng)
    got = check_derivative("w'*x + b", "b", {"w": w, "x": x, "b": b},
                           lambda v: v["w"] @ v["x"] + v["b"], declare=SCALAR_B)
    assert_matches(got, 1.0)


def test_max_0_z_broadcast_jacobian_is_diagonal(rng):
    """d max(0, x)/dx for a vector x.

    The notes write it as a column of d max(0, x_i)/dx_i; the Jacobian of an
    element-wise function is the diagonal matrix of those entries (n x n), as
    the notes' own element-wise section says. The test follows the mathematics.
    """
    x = away_from_zero(rng, N)
    got = check_derivative("max(0, x)", "x", {"x": x}, lambda v: np.maximum(0.0, v["x"]))
    assert_matches(got, np.diag((x > 0).astype(float)))


@pytest.mark.parametrize("text", [NEURON, "max(0, w \u00b7 x + b)"])
def test_neuron_wrt_w_active_is_x(rng, text):
    values = _neuron_values(rng, active=True)
    got = check_derivative(text, "w", values, _neuron, declare=SCALAR_B)
    assert_matches(got, values["x"])


@pytest.mark.parametrize("text", [NEURON, "max(0, w \u00b7 x + b)"])
def test_neuron_wrt_w_inactive_is_zero(rng, text):
    values = _neuron_values(rng, active=False)
    got = check_derivative(text, "w", values, _neuron, declare=SCALAR_B)
    assert_matches(got, np.zeros(N))


def test_neuron_wrt_b_active_is_one(rng):
    values = _neuron_values(rng, active=True)
    got = check_derivative(NEURON, "b", values, _neuron, declare=SCALAR_B)
    assert_matches(got, 1.0)


def test_neuron_wrt_b_inactive_is_zero(rng):
    values = _neuron_values(rng, active=False)
    got = check_derivative(NEURON, "b", values, _neuron, declare=SCALAR_B)
    assert_matches(got, 0.0)


def test_neuron_at_the_kink_has_zero_derivative():
    """The notes' case split puts z = 0 with z < 0: derivative 0 at the kink.

    Values are dyadic so that w'x + b is exactly 0.0 in any summation order.
    """
    w = np.array([0.5, 0.25, 1.0, 2.0])
    x = np.array([1.0, 2.0, 0.5, 0.25])
    values = {"w": w, "x": x, "b": np.float64(-2.0)}
    assert float(w @ x) + values["b"] == 0.0
    assert_matches(derivative(NEURON, "w", values, declare=SCALAR_B), np.zeros(N))
    assert_matches(derivative(NEURON, "b", values, declare=SCALAR_B), 0.0)
    assert_matches(derivative("relu(x)", "x", {"x": np.zeros(N)}), np.zeros((N, N)))


# --------------------------------------------------------------------------- the loss

LOSS = "mean((y - max(0, X*w + b)).^2)"
SAMPLES = 6


def _loss_values(rng):
    """Some samples active (z_i > 0), some not, all |z_i| >= 0.3."""
    X, w = uniform(rng, (SAMPLES, N)), uniform(rng, N)
    y = uniform(rng, SAMPLES)
    target = np.array([0.8, -0.7, 1.1, -0.4, 0.5, -1.2])
    b = 0.0
    # shift rows of X along w so that z_i = X_i . w + b hits the targets exactly
    X = X + np.outer(target - X @ w, w) / (w @ w)
    return {"X": X, "w": w, "y": y, "b": np.float64(b)}


def _loss(v):
    return np.mean((v["y"] - np.maximum(0.0, v["X"] @ v["w"] + v["b"])) ** 2)


def test_loss_gradient_wrt_w(rng):
    """dC/dw = (2/N) sum_i [z_i > 0] (z_i - y_i) x_i^T, z_i = w . x_i + b.

    The notes write the case split outside the sum, on "w . x + b", and v
    without its index; it belongs inside the sum, one case per sample
    (the issue says so too). The closed form below is per sample.
    """
    values = _loss_values(rng)
    X, w, y, b = values["X"], values["w"], values["y"], values["b"]
    z = X @ w + b
    assert np.any(z > 0) and np.any(z < 0) and np.min(np.abs(z)) >= 0.3
    got = check_derivative(LOSS, "w", values, _loss, declare=SCALAR_B)
    per_sample = [(z[i] - y[i]) * X[i] if z[i] > 0 else np.zeros(N) for i in range(SAMPLES)]
    assert_matches(got, 2 / SAMPLES * np.sum(per_sample, axis=0))


def test_loss_gradient_wrt_b(rng):
    """dC/db = (2/N) sum_i [z_i > 0] (z_i - y_i), the case split per sample (see above)."""
    values = _loss_values(rng)
    X, w, y, b = values["X"], values["w"], values["y"], values["b"]
    z = X @ w + b
    got = check_derivative(LOSS, "b", values, _loss, declare=SCALAR_B)
    assert_matches(got, 2 / SAMPLES * np.sum(np.where(z > 0, z - y, 0.0)))


def test_loss_written_as_a_sum_over_samples(rng):
    """C = (1/N) sum_i (y_i - max(0, w . x_i + b))^2, written with sum and / N."""
    values = _loss_values(rng)
    alt = "sum((y - max(0, X*w + b)) .^ 2) / 6"
    got = check_derivative(alt, "w", values, _loss, declare=SCALAR_B)
    assert_matches(got, derivative(LOSS, "w", values, declare=SCALAR_B))


def test_loss_hessian_wrt_w(rng):
    """Second order: (2/N) sum_i [z_i > 0] x_i x_i^T (away from the kinks)."""
    values = _loss_values(rng)
    X, w, b = values["X"], values["w"], values["b"]
    z = X @ w + b
    got = check_derivative(LOSS, "w", values, _loss, order=2, declare=SCALAR_B)
    active = X[z > 0]
    assert_matches(got, 2 / SAMPLES * active.T @ active)
