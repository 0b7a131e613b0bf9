"""The article's names for local derivative rules, chosen by the shape of a node.

Each intermediate `u = op(...)` is differentiated with respect to one of
its pieces by the engine; this module names the rule the article would
cite for it, with a note saying what it gives:

    w ⊙ x, w ⊘ x          element-wise binary operator: a diagonal
    x + z, x*z (z scalar)  scalar expansion: I, 1, or Iz
    sum(u)                 vector sum reduction: 1'
    A*x, X*w, w'*X         matrix product rule
    a + b                  sum rule
    exp(u), tanh(u), ...   element-wise function: diag(f'(u))
    max(0, z)              the max(0, z) cases: step(z)
    inv, det, logdet, ...  the rule of that matrix function

Products and sums are named here by their shapes; every other op's rule
name and identity come from its op spec (ir/ops.py, OpSpec.rule).
"""

from __future__ import annotations

from ..ir.expr import Expr
from ..ir.ops import SPECS, Op

__all__ = ["local_rule", "chain_rule"]

def _einsum_rule(e: Expr, child: Expr) -> tuple[str, str]:
    ins, out, _ = e.attr
    tensors = [(a, tuple(lab)) for a, lab in zip(e.args, ins) if a.op is not Op.CONST]
    mine = [lab for a, lab in tensors if a is child]
    others = [lab for a, lab in tensors if a is not child and lab]  # scalars only scale
    out = tuple(out)
    if not others and len(mine) > 1:
        return ("element-wise binary operator",
                "∂(y ⊙ y)/∂y = 2 diag(y), the product rule entry by entry")
    if not others:
        if not out:
            return "vector sum reduction", "∂ sum(u)/∂u is a row of ones, 1'"
        if all(not lab for lab in mine):
            return "scalar expansion", "∂(x + z)/∂z = 1 and ∂(x z)/∂z = x for a scalar z"
        if all(lab == out for lab in mine):
            return "scalar expansion", "∂(x z)/∂x = I z for a scalar z"
    if all(lab == out for lab in mine) and all(lab == out for lab in others):
        return ("element-wise binary operator",
                "∂(w ⊙ x)/∂w = diag(x): entry i depends on w_i only")
    if all(not lab for lab in mine) and out:
        return "scalar expansion", "∂(x z)/∂z = x for a scalar z"
    if all(not lab for lab in mine):
        return "vector sum reduction", "∂ sum(x z)/∂z = sum(x) for a scalar z"
    if not out and len(tensors) == 2 and all(len(lab) == 1 for _, lab in tensors):
        return "dot product rule", "∂(w'x)/∂w = x'"
    return "matrix product rule", "the product rule, one factor at a time"


def local_rule(e: Expr, child: Expr) -> tuple[str, str]:
    """(rule name, note) for ∂e/∂child, e written over child."""
    op = e.op
    if op is Op.EINSUM:
        return _einsum_rule(e, child)
    if op is Op.ADD:
        if child.ndim == 0 and e.ndim:
            return "scalar expansion", "∂(x + z)/∂z = 1 for a scalar z"
        return "sum rule", "∂(a + b)/∂a = I"
    rule = SPECS[op].rule
    if not rule[0]:  # every op names its rule in the spec: no generic fallback
        raise LookupError(f"the op spec of {op.value} names no rule for the explanation")
    return rule


def chain_rule(n_children: int, shapes: list[tuple]) -> tuple[str, str]:
    """The chain rule combining local derivatives, by the article's names.

    shapes: those of the pieces and of the variable (all scalars: single-variable).
    """
    if n_children > 1:
        return ("total-derivative chain rule",
                "∂f/∂x = Σ_i ∂f/∂u_i ∂u_i/∂x over the pieces that depend on x")
    if all(len(s) == 0 for s in shapes):
        return "single-variable chain rule", "dy/dx = dy/du du/dx"
    return "vector chain rule", "∂f/∂x = ∂f/∂g ∂g/∂x, a product of Jacobians"
