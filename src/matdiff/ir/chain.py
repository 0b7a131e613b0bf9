"""The chain rule's product of two derivative tensors, as one einsum.

Shared by the step-by-step explanation (explain/derive.py) and the diagnosis
of a chain-rule factor left out (mistakes.py).
"""

from __future__ import annotations

from . import expr as ir
from .expr import Expr

__all__ = ["chain_product"]


def chain_product(local: Expr, total: Expr, n: Expr, c: Expr, x: Expr) -> Expr:
    """∂n/∂c ∂c/∂x (`local` times `total`) as an einsum over c's axes."""
    N = [("n", k) for k in range(n.ndim)]
    C = [("c", k) for k in range(c.ndim)]
    X = [("x", k) for k in range(x.ndim)]
    dims = dict(zip(N, n.shape)) | dict(zip(C, c.shape)) | dict(zip(X, x.shape))
    return ir.einsum([local, total], [N + C, C + X], N + X, dims)
