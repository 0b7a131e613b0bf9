"""The benchmark problems P1-P7: expressions, data, and hand-written closed forms.

Each `Case` is one derivative at one size. `hand` is the plain closed form a
careful person writes from the textbook formula; `best` is the fastest hand
variant we know (a symmetric rank-k product for X' diag(h) X, the expanded
form of P6), so that matdiff is measured against both. `loss_np` and
`loss_torch` are the function itself for the autodiff frameworks: the first
is written against a NumPy-like module (jax.numpy, autograd.numpy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Case", "cases"]


@dataclass
class Case:
    id: str                         # "P1 hessian 10000x100"
    problem: str                    # "P1"
    kind: str                       # gradient | hessian | jacobian | value_and_grad
    expression: str
    wrt: list[str]                  # first one for order 2 / jacobians
    args: list[str]                 # positional order of the framework functions
    data: Callable[[np.random.Generator], dict[str, np.ndarray]]
    hand: Callable[..., Any]
    best: Callable[..., Any] | None = None
    diagonal: Callable[..., Any] | None = None  # the diagonal alone, by hand (P5)
    loss_np: Callable[..., Any] | None = None
    loss_torch: Callable[..., Any] | None = None
    declare: dict[str, str] = field(default_factory=dict)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# ---------------------------------------------------------------- closed forms

def p1_grad(X, w, y):
    return 2.0 * (X.T @ (X @ w - y))


def p1_hess(X, w, y):
    return 2.0 * (X.T @ X)


def p2_grad(X, w, y):
    return -(X.T @ (y * _sigmoid(-y * (X @ w))))


def p2_hess(X, w, y):
    p = _sigmoid(y * (X @ w))
    h = p * (1.0 - p)                                   # y^2 = 1 for labels +-1 is not assumed
    return X.T @ ((h * y * y)[:, None] * X)


def p2_hess_sym(X, w, y):
    p = _sigmoid(y * (X @ w))
    Q = np.sqrt(p * (1.0 - p) * y * y)[:, None] * X    # X' diag(h) X = Q'Q: one syrk
    return Q.T @ Q


def p3_value_and_grads(X, w, b, y):
    z = X @ w + b
    e = np.maximum(z, 0.0) - y
    r = e * (z > 0) * (2.0 / len(y))
    return e @ e / len(y), X.T @ r, r.sum()


def p4_hess(x, A):
    return A + A.T


def p5_jac(x):
    return np.diag(np.exp(x) * (np.sin(x) + np.cos(x)))


def p5_diag(x):
    return np.exp(x) * (np.sin(x) + np.cos(x))


def p6_grad(M, U, V):
    return 2.0 * ((U @ V.T - M) @ V)


def p6_grad_expanded(M, U, V):
    return 2.0 * (U @ (V.T @ V) - M @ V)


def p7_grad(X, W1, W2, Y):
    H = X @ W1
    R = np.maximum(H, 0.0) @ W2 - Y
    return X.T @ ((R @ (2.0 * W2.T)) * (H > 0))


# ---------------------------------------------------------------- data

def _least_squares(N, n):
    def make(rng):
        X = rng.standard_normal((N, n)) / np.sqrt(n)
        return {"X": X, "w": rng.standard_normal(n), "y": rng.standard_normal(N)}
    return make


def _logistic(N, n):
    def make(rng):
        X = rng.standard_normal((N, n)) / np.sqrt(n)
        return {"X": X, "w": rng.standard_normal(n), "y": rng.choice([-1.0, 1.0], N)}
    return make


def _size(shape) -> str:
    return "x".join(str(k) for k in shape)


def cases(quick: bool = False) -> list[Case]:
    """Every case at the issue's sizes, or at small sizes with quick=True."""
    ls_sizes = [(2000, 50), (400, 200)] if quick else [(10000, 100), (2000, 1000)]
    n3 = (10000, 100) if quick else (100000, 100)
    n4 = 300 if quick else 2000
    n5 = [500, 1000] if quick else [2000, 5000]
    n6 = (300, 10) if quick else (2000, 50)
    n7 = (2000, 100, 64, 10) if quick else (10000, 100, 256, 10)
    out: list[Case] = []
    for N, n in ls_sizes:
        ls = dict(expression="norm2(X*w - y)^2", args=["w", "X", "y"], wrt=["w"],
                  data=_least_squares(N, n),
                  loss_np=lambda w, X, y: ((X @ w - y) ** 2).sum(),
                  loss_torch=lambda w, X, y: ((X @ w - y) ** 2).sum())
        out.append(Case(f"P1 gradient {N}x{n}", "P1", "gradient", hand=p1_grad, **ls))
        out.append(Case(f"P1 hessian {N}x{n}", "P1", "hessian", hand=p1_hess, **ls))
    for N, n in ls_sizes:
        lg = dict(expression="sum(log(1 + exp(-y .* (X*w))))", args=["w", "X", "y"], wrt=["w"],
                  data=_logistic(N, n))
        out.append(Case(f"P2 gradient {N}x{n}", "P2", "gradient", hand=p2_grad,
                        loss_np=_logistic_np, loss_torch=_logistic_torch, **lg))
        out.append(Case(f"P2 hessian {N}x{n}", "P2", "hessian", hand=p2_hess, best=p2_hess_sym,
                        loss_np=_logistic_np, loss_torch=_logistic_torch, **lg))

    def p3_data(rng, N=n3[0], n=n3[1]):
        X = rng.standard_normal((N, n)) / np.sqrt(n)
        return {"X": X, "w": rng.standard_normal(n), "b": np.float64(0.1),
                "y": rng.standard_normal(N)}

    out.append(Case(f"P3 value and gradient w,b {_size(n3)}", "P3", "value_and_grad",
                    "mean((y - relu(X*w + b)).^2)", ["w", "b"], ["w", "b", "X", "y"], p3_data,
                    p3_value_and_grads, loss_np=_neuron_np, loss_torch=_neuron_torch,
                    declare={"b": "scalar"}))

    def p4_data(rng, n=n4):
        return {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n))}

    out.append(Case(f"P4 hessian n={n4}", "P4", "hessian", "x'*A*x", ["x"], ["x", "A"], p4_data,
                    p4_hess, loss_np=lambda x, A: x @ A @ x, loss_torch=lambda x, A: x @ A @ x))
    for n in n5:
        out.append(Case(f"P5 jacobian n={n}", "P5", "jacobian", "exp(x) .* sin(x)", ["x"], ["x"],
                        lambda rng, n=n: {"x": rng.standard_normal(n)}, p5_jac, diagonal=p5_diag,
                        loss_np=_p5_np, loss_torch=_p5_torch))

    def p6_data(rng, n=n6[0], r=n6[1]):
        return {"M": rng.standard_normal((n, n)), "U": rng.standard_normal((n, r)),
                "V": rng.standard_normal((n, r))}

    out.append(Case(f"P6 gradient {n6[0]}x{n6[0]} rank {n6[1]}", "P6", "gradient",
                    "norm2(M - U*V')^2", ["U"], ["U", "M", "V"], p6_data, p6_grad,
                    best=p6_grad_expanded,
                    loss_np=lambda U, M, V: ((M - U @ V.T) ** 2).sum(),
                    loss_torch=lambda U, M, V: ((M - U @ V.T) ** 2).sum()))

    def p7_data(rng, N=n7[0], i=n7[1], h=n7[2], o=n7[3]):
        return {"X": rng.standard_normal((N, i)), "W1": rng.standard_normal((i, h)) / np.sqrt(i),
                "W2": rng.standard_normal((h, o)) / np.sqrt(h), "Y": rng.standard_normal((N, o))}

    out.append(Case(f"P7 gradient W1 N={n7[0]} {n7[1]}-{n7[2]}-{n7[3]}", "P7", "gradient",
                    "norm2(relu(X*W1)*W2 - Y)^2", ["W1"], ["W1", "X", "W2", "Y"], p7_data,
                    p7_grad, loss_np=_mlp_np, loss_torch=_mlp_torch))
    return out


# ---------------------------------------------------------------- the functions, for autodiff

def _xp(a):
    """The NumPy-like module of an array: jax.numpy or autograd.numpy."""
    mod = type(a).__module__
    if mod.startswith("jax"):
        import jax.numpy as jnp

        return jnp
    import autograd.numpy as anp

    return anp


def _logistic_np(w, X, y):
    xp = _xp(w)
    return xp.sum(xp.log(1.0 + xp.exp(-y * (X @ w))))


def _logistic_torch(w, X, y):
    import torch

    return torch.sum(torch.log(1.0 + torch.exp(-y * (X @ w))))


def _neuron_np(w, b, X, y):
    xp = _xp(w)
    return xp.mean((y - xp.maximum(X @ w + b, 0.0)) ** 2)


def _neuron_torch(w, b, X, y):
    import torch

    return torch.mean((y - torch.relu(X @ w + b)) ** 2)


def _p5_np(x):
    xp = _xp(x)
    return xp.exp(x) * xp.sin(x)


def _p5_torch(x):
    import torch

    return torch.exp(x) * torch.sin(x)


def _mlp_np(W1, X, W2, Y):
    xp = _xp(W1)
    return xp.sum((xp.maximum(X @ W1, 0.0) @ W2 - Y) ** 2)


def _mlp_torch(W1, X, W2, Y):
    import torch

    return torch.sum((torch.relu(X @ W1) @ W2 - Y) ** 2)
