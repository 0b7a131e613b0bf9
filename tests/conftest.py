"""Shared helpers for matdiff's numerical tests.

Expected values never come from matdiff itself: they come from central
finite differences of an independent NumPy implementation (helpers below),
or from a closed form evaluated in NumPy.

* `fd_jacobian(f, x)`: central differences, shape f(x).shape + x.shape.
* `fd_hessian(f, x)`: second differences with one Richardson step, shape
  f(x).shape + x.shape + x.shape (accurate to ~1e-9 for O(1) functions).
* `numeric_derivative(f, values, wrt, order)`: the same, for a NumPy
  function of a dict of values, differentiated in one of them.
* `assert_matches(got, want)`: shape equal and np.allclose at the project's
  tolerances, with a message that shows the worst entry.
* domains: `uniform`, `positive`, `away_from_zero`, `well_conditioned`,
  `spd`, `symmetric`, so that values sit inside each function's domain and
  away from kinks (|u| >= 0.3 where a kink is at 0).

The hypothesis profile "matdiff-ci" (derandomize=True, deadline=None) is
registered and loaded here, so that CI runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

__all__ = [
    "FD_STEP", "FD2_STEP", "RTOL", "ATOL", "ATOL2",
    "fd_jacobian", "fd_hessian", "fd_derivative", "numeric_derivative",
    "assert_matches", "as_array", "to_numpy",
    "uniform", "positive", "away_from_zero", "well_conditioned", "spd", "symmetric",
    "check_derivative",
]

settings.register_profile(
    "matdiff-ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)
settings.load_profile("matdiff-ci")

FD_STEP = 1e-6      # first order: plain central differences
FD2_STEP = 1e-3     # second order: 4-point second differences, Richardson-extrapolated
RTOL = 1e-5
ATOL = 1e-7         # first order, scaled by max(1, |want|)
ATOL2 = 1e-7        # second order, scaled likewise


# --------------------------------------------------------------------------- finite differences

def as_array(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def to_numpy(x) -> np.ndarray:
    """A library's array as float64 NumPy: a Dask array computed, a PyTorch tensor (on any
    device) copied to the host, a JAX or NumPy array as it is."""
    if hasattr(x, "compute"):
        x = x.compute()
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def fd_jacobian(f: Callable[[np.ndarray], np.ndarray], x, h: float = FD_STEP) -> np.ndarray:
    """Central differences of f at x: J[out..., in...] = d f[out...] / d x[in...]."""
    x = as_array(x)
    out = as_array(f(x.copy()))
    jac = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        jac[(Ellipsis,) + idx] = (as_array(f(x + e)) - as_array(f(x - e))) / (2 * h)
    return jac


def _second_difference(f, x, i, j, h) -> np.ndarray:
    ei = np.zeros_like(x)
    ej = np.zeros_like(x)
    ei[i] = h
    ej[j] = h
    return (as_array(f(x + ei + ej)) - as_array(f(x + ei - ej))
            - as_array(f(x - ei + ej)) + as_array(f(x - ei - ej))) / (4 * h * h)


def fd_hessian(f: Callable[[np.ndarray], np.ndarray], x, h: float = FD2_STEP) -> np.ndarray:
    """Second derivatives H[out..., i..., j...] = d2 f[out...] / d x[i...] d x[j...].

    The 4-point formula D(h) has error c*h^2 + O(h^4); (4 D(h/2) - D(h)) / 3
    removes the h^2 term, so h can stay large enough (1e-3) for round-off to
    be ~1e-9 relative. Symmetry in (i, j) halves the work.
    """
    x = as_array(x)
    out = as_array(f(x.copy()))
    idx = list(np.ndindex(*x.shape))
    hess = np.zeros(out.shape + x.shape + x.shape)
    for a, i in enumerate(idx):
        for j in idx[a:]:
            d = (4 * _second_difference(f, x, i, j, h / 2) - _second_difference(f, x, i, j, h)) / 3
            hess[(Ellipsis,) + i + j] = d
            hess[(Ellipsis,) + j + i] = d
    return hess


def fd_derivative(f, x, order: int) -> np.ndarray:
    if order == 1:
        return fd_jacobian(f, x)
    if order == 2:
        return fd_hessian(f, x)
    raise ValueError(f"finite differences of order {order} are not provided")


def numeric_derivative(f: Callable[[dict], np.ndarray], values: Mapping[str, object],
                       wrt: str, order: int = 1) -> np.ndarray:
    """d^order f / d values[wrt]^order by finite differences, f a NumPy function of a dict."""
    base = {k: as_array(v) for k, v in values.items()}

    def g(t: np.ndarray) -> np.ndarray:
        return as_array(f({**base, wrt: t}))

    return fd_derivative(g, base[wrt], order)


def assert_matches(got, want, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> None:
    """Same shape, and |got - want| <= atol*max(1, max|want|) + rtol*|want| everywhere."""
    got = as_array(got)
    want = as_array(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    assert np.all(np.isfinite(got)), f"{what}: non-finite entries in {got}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    ok = np.allclose(got, want, rtol=rtol, atol=atol * scale)
    if not ok:
        err = np.abs(got - want)
        worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
        raise AssertionError(
            f"{what}: max abs error {float(np.max(err)):.3g} at {worst}: "
            f"got {got[worst]!r}, expected {want[worst]!r}\ngot:\n{got}\nexpected:\n{want}")


def check_derivative(text: str, wrt: str, values: Mapping[str, object], f: Callable[[dict], object],
                     order: int = 1, declare: Mapping[str, str] | None = None):
    """matdiff's derivative of `text` against finite differences of the NumPy function `f`.

    Also checks that the symbolic shape has one dimension per array axis.
    Returns the evaluated derivative.
    """
    import matdiff

    d = matdiff.diff(text, wrt=wrt, declare=declare, order=order)
    got = as_array(d.evaluate(dict(values)))
    want = numeric_derivative(f, values, wrt, order)
    label = f"d^{order}({text})/d{wrt}^{order}" if order > 1 else f"d({text})/d{wrt}"
    assert len(d.shape) == want.ndim, \
        f"{label}: symbolic shape {d.shape}, expected {want.ndim} axes"
    assert_matches(got, want, atol=ATOL if order == 1 else ATOL2, what=label)
    return got


# --------------------------------------------------------------------------- domains

def _shape(shape) -> tuple[int, ...]:
    return tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)


def _out(a: np.ndarray, shape) -> np.ndarray | np.float64:
    return np.float64(a) if _shape(shape) == () else a


def uniform(rng: np.random.Generator, shape=(), lo: float = -1.0, hi: float = 1.0):
    return _out(rng.uniform(lo, hi, _shape(shape)), shape)


def positive(rng: np.random.Generator, shape=(), lo: float = 0.5, hi: float = 2.0):
    return _out(rng.uniform(lo, hi, _shape(shape)), shape)


def away_from_zero(rng: np.random.Generator, shape=(), lo: float = 0.3, hi: float = 1.5):
    """Random signs, magnitudes in [lo, hi]: away from the kinks of abs, relu, sign, step."""
    s = _shape(shape)
    signs = rng.choice([-1.0, 1.0], s)
    if s and signs.size > 1:  # both signs present, so both branches are exercised
        flat = signs.reshape(-1)
        flat[0], flat[1] = 1.0, -1.0
    return _out(signs * rng.uniform(lo, hi, s), shape)


def well_conditioned(rng: np.random.Generator, n: int = 3) -> np.ndarray:
    """A non-symmetric n x n matrix with positive determinant and condition number < 10."""
    while True:
        m = 2.0 * np.eye(n) + 0.4 * rng.uniform(-1, 1, (n, n))
        if np.linalg.det(m) > 0.5 and np.linalg.cond(m) < 10:
            return m


def spd(rng: np.random.Generator, n: int = 3) -> np.ndarray:
    """A symmetric positive definite n x n matrix, well conditioned."""
    b = rng.uniform(-1, 1, (n, n))
    return b @ b.T / n + np.eye(n)


def symmetric(rng: np.random.Generator, n: int = 3) -> np.ndarray:
    b = rng.uniform(-1, 1, (n, n))
    return (b + b.T) / 2


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240531)


@pytest.fixture(scope="module")
def server():
    """`matdiff serve`'s server in a thread on an ephemeral loopback port, for page tests."""
    import threading

    from matdiff.web.server import make_server

    s = make_server("127.0.0.1", 0, timeout_seconds=None, quiet=True)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    yield s
    s.shutdown()
    s.server_close()
