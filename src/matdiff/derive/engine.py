"""Forward-mode symbolic differentiation over the IR, one pass in topological order.

Each node's derivative with respect to the variable X is a tensor of shape
node.shape + X.shape built by the node's rule in rules.RULES from its
arguments' derivatives. None stands for an exact zero and propagates, so a
subexpression that does not depend on X costs nothing. Because products are
fused as they are built, the Kronecker deltas that the leaf rule introduces
(dX/dX) vanish into index renamings, and a scalar loss comes out as its
gradient expression, not as a chain of Jacobians. Second order is the same
pass applied to the first derivative.
"""

from __future__ import annotations

from ..errors import MatdiffError
from ..ir import expr as ir
from ..ir.expr import Expr
from ..ir.ops import Op
from .rules import RULES

__all__ = ["differentiate"]


def differentiate(root: Expr, x: Expr) -> Expr:
    """d root / d x, of shape root.shape + x.shape (an exact zero tensor if independent)."""
    if x.op is not Op.VAR:
        raise MatdiffError("can only differentiate with respect to a variable")
    wrt_dims = list(x.shape)
    derivative: dict[Expr, Expr | None] = {}
    for node in ir.topo_order(root):
        if node.op is Op.VAR:
            derivative[node] = ir.delta(wrt_dims) if node is x else None
        elif not node.args:
            derivative[node] = None  # constants and sizes
        else:
            dargs = [derivative[a] for a in node.args]
            if all(d is None for d in dargs):
                derivative[node] = None
            else:
                derivative[node] = RULES[node.op](node, dargs, wrt_dims)
    result = derivative[root]
    return ir.zeros(root.shape + x.shape) if result is None else result
