"""P1-P7's closed forms written by hand in PyTorch and in JAX, as a careful person would.

The same formulas as problems.py's NumPy `hand` (and `best`) functions, with
each library's own kernels where it has one (`sigmoid`, `relu`, `diag`), the
scalar factor on the smallest operand, and nothing converted or copied. A
transposed matrix times a vector is written `v @ X`: XLA's CPU backend copies
`X.T` before a matrix-vector product (twenty times the product's time at
10000 x 100), PyTorch runs either spelling as one BLAS call. The JAX
versions are compiled with `jax.jit`, as anyone timing JAX would.
`hand(library, case)` returns (plain, best or None) for a case of problems.py.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from problems import Case

__all__ = ["hand"]


def _ops(library: str) -> SimpleNamespace:
    if library == "torch":
        import torch

        return SimpleNamespace(sigmoid=torch.sigmoid, relu=torch.relu, diag=torch.diag,
                               exp=torch.exp, sin=torch.sin, cos=torch.cos, sqrt=torch.sqrt)
    import jax
    import jax.numpy as jnp

    return SimpleNamespace(sigmoid=jax.nn.sigmoid, relu=jax.nn.relu, diag=jnp.diag,
                           exp=jnp.exp, sin=jnp.sin, cos=jnp.cos, sqrt=jnp.sqrt)


def _forms(o: SimpleNamespace) -> dict[tuple[str, str], tuple[Callable, Callable | None]]:
    def p1_grad(X, w, y):
        return 2.0 * ((X @ w - y) @ X)

    def p1_hess(X, w, y):
        return 2.0 * (X.T @ X)

    def p2_grad(X, w, y):
        return -((y * o.sigmoid(-y * (X @ w))) @ X)

    def p2_hess(X, w, y):
        p = o.sigmoid(y * (X @ w))
        return X.T @ ((p * (1.0 - p) * y * y)[:, None] * X)

    def p2_hess_sym(X, w, y):
        p = o.sigmoid(y * (X @ w))
        Q = o.sqrt(p * (1.0 - p) * y * y)[:, None] * X
        return Q.T @ Q

    def p3(X, w, b, y):
        z = X @ w + b
        e = o.relu(z) - y
        r = e * (z > 0) * (2.0 / y.shape[0])
        return e @ e / y.shape[0], r @ X, r.sum()

    def p4_hess(x, A):
        return A + A.T

    def p5_jac(x):
        return o.diag(o.exp(x) * (o.sin(x) + o.cos(x)))

    def p6_grad(M, U, V):
        return 2.0 * ((U @ V.T - M) @ V)

    def p6_expanded(M, U, V):
        return 2.0 * (U @ (V.T @ V) - M @ V)

    def p7_grad(X, W1, W2, Y):
        H = X @ W1
        R = o.relu(H) @ W2 - Y
        return X.T @ ((R @ (2.0 * W2.T)) * (H > 0))

    return {("P1", "gradient"): (p1_grad, None), ("P1", "hessian"): (p1_hess, None),
            ("P2", "gradient"): (p2_grad, None), ("P2", "hessian"): (p2_hess, p2_hess_sym),
            ("P3", "value_and_grad"): (p3, None), ("P4", "hessian"): (p4_hess, None),
            ("P5", "jacobian"): (p5_jac, None), ("P6", "gradient"): (p6_grad, p6_expanded),
            ("P7", "gradient"): (p7_grad, None)}


def hand(library: str, case: Case) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    """The plain closed form and the fastest known variant (or None), in `library`."""
    plain, best = _forms(_ops(library))[(case.problem, case.kind)]
    if library == "jax":
        import jax

        plain = jax.jit(plain)
        best = jax.jit(best) if best is not None else None
    return plain, best
