"""The article's names for local derivative rules, chosen by the shape of a node.

Each intermediate `u = op(...)` is differentiated with respect to one of
its pieces by the engine; this module names the rule the article would
cite for it, with a note saying what it gives:

    w ⊙ x, w ⊘ x          element-wise binary operator: a diagonal
    x + z, x*z (z scalar)  scalar expansion: eye, vector(1), or z*eye
    sum(u)                 vector sum reduction: vector(1)'
    x'*A*x, a*b            product rule (one term per factor holding the piece)
    A*x, X*w, w'*X         matrix product rule
    tr(A*X*B), tr(X)       trace rule (through the differential d tr(M*X) = tr(M*dX))
    a + b                  sum rule
    exp(u), tanh(u), ...   element-wise function: diag(f'(u))
    max(0, z)              the max(0, z) cases: step(z)
    max(x), min(x)         the max reduction rule: eq(x, max(x))/sum(eq(x, max(x)))
    inv, det, logdet, ...  the rule of that matrix function

Products and sums are named here by their shapes; every other op's rule
name and identity come from its op spec (ir/ops.py, OpSpec.rule).
"""

from __future__ import annotations

from ..ir.expr import Expr
from ..ir.ops import SPECS, Op, spelling

__all__ = ["local_rule", "chain_rule"]

def _einsum_rule(e: Expr, child: Expr) -> tuple[str, str]:
    """A product (einsum) named by the shapes of its factors and of the piece."""
    ins, out, _ = e.attr
    tensors = [(a, tuple(lab)) for a, lab in zip(e.args, ins) if a.op is not Op.CONST]
    mine = [lab for a, lab in tensors if a is child]
    others = [lab for a, lab in tensors if a is not child and lab]  # scalars only scale
    out = tuple(out)
    if len(mine) > 1:
        return ("product rule",
                "∂(u v)/∂x = (∂u/∂x) v + u (∂v/∂x): one term per factor that holds x, "
                "the others held fixed")
    (lab,) = mine
    if not lab and not out and len(tensors) == 1:
        return "constant factor rule", "∂(c u)/∂u = c for a number c"
    if not lab:  # the piece is a scalar
        if out:
            return "scalar expansion", "∂(x z)/∂z = x for a scalar z"
        if others:
            return "vector sum reduction", "∂ sum(x z)/∂z = sum(x) for a scalar z"
        return "product rule", "∂(a b)/∂a = b: the other factor"
    if not others:
        if not out and len(lab) == 2 and lab[0] == lab[1]:
            return "trace rule", "d tr(X) = tr(dX), so ∂ tr(X)/∂X = eye"
        if not out and len(lab) == 2:  # not a row of ones: a matrix's entries each add 1
            return ("vector sum reduction", "every entry of the matrix enters the sum with "
                    "slope 1: d sum(X) = sum(dX)")
        if not out:
            return "vector sum reduction", "∂ sum(u)/∂u is a row of ones, vector(1)'"
        if lab == out:
            return "scalar expansion", "∂(x z)/∂x = z*eye for a scalar z"
        if not set(lab) & set(out):
            return ("vector sum reduction", "each entry is a multiple of sum(x), so each row "
                    "of the Jacobian is a scaled row of ones: ∂ sum(x)*vector(1)/∂x = matrix(1)")
        if sorted(lab) == sorted(out):
            return "transpose rule", "d(X') = (dX)': the entries move, each with slope 1"
        return "linear map", "the derivative of a linear map is the map itself"
    if lab == out and all(o == out for o in others):
        return ("element-wise binary operator",
                "∂(w ⊙ x)/∂w = diag(x): entry i depends on w_i only")
    if not out and len(tensors) == 2 and len(lab) == 1 and all(len(o) == 1 for o in others):
        return "dot product rule", "∂(w'*x)/∂w = x'"
    if not out and len(lab) == 2:
        return ("trace rule", "a scalar product of matrices is a trace, and d tr(M*X) = "
                "tr(M*dX)")
    # The note follows where the other factors stand: ∂(A*x)/∂x = A is wrong for W*x by W.
    side = _side(lab, others, out)
    if len(lab) == 1 and others and all(len(o) == 1 and lab[0] not in o for o in others):
        return ("matrix product rule", "the outer product: d(x*y') = dx*y' + x*dy', "
                "here the term of this factor, the other held fixed")
    if side == "right" and len(lab) == 2 and [len(o) for o in others] == [1]:
        return ("matrix product rule", "d(W*x) = dW*x, x held fixed: entry (i, j) of W "
                "moves entry i of W*x by x_j")
    if side == "right":
        return ("matrix product rule", "d(X*B) = dX*B: the factors on the right held fixed"
                if len(lab) == 2 else "d(x'*A) = dx'*A: the factors on the right held fixed")
    if side == "both":
        return ("matrix product rule",
                "d(A*X*B) = A*dX*B: the factors on either side held fixed")
    if side == "left" and len(lab) == 2:
        return "matrix product rule", "d(A*X) = A*dX: the factors on the left held fixed"
    return "matrix product rule", "∂(A*x)/∂x = A: the other factors, held fixed"


def _side(lab: tuple, others: list[tuple], out: tuple) -> str | None:
    """Where the other factors of a product stand around the piece: "left" (A*x, A*X,
    w'*X), "right" (W*x, X*B, x'*A), "both" (A*X*B), or None when shapes do not say."""
    sides = set()
    for o in others:
        if len(lab) == 2 and (lab[0] in o) != (lab[1] in o):
            sides.add("left" if lab[0] in o else "right")
        elif len(lab) == 1 and lab[0] in o:
            sides.add("left" if o.index(lab[0]) == len(o) - 1 else "right")
        elif not set(lab) & set(o) and set(lab) <= set(out) and set(o) <= set(out):
            # an outer product: the order of the result's axes
            mine, theirs = min(out.index(a) for a in lab), min(out.index(a) for a in o)
            sides.add("right" if mine < theirs else "left")
        else:
            return None
    if len(sides) == 2:
        return "both"
    return sides.pop() if sides else None


def local_rule(e: Expr, child: Expr) -> tuple[str, str]:
    """(rule name, note) for ∂e/∂child, e written over child."""
    op = e.op
    if op is Op.EINSUM:
        return _einsum_rule(e, child)
    if op is Op.ADD:
        if child.ndim == 0 and e.ndim:
            return "scalar expansion", "∂(x + z)/∂z = vector(1) for a scalar z"
        if child.ndim == 0:
            return "sum rule", "∂(a + b)/∂a = 1 and ∂(a - b)/∂b = -1"
        return "sum rule", "∂(a + b)/∂a = eye and ∂(a - b)/∂b = -eye"
    rule = SPECS[op].rule
    if not rule[0]:  # every op names its rule in the spec: no generic fallback
        raise LookupError(f"the op spec of {op.value} names no rule for the explanation")
    if SPECS[op].kind == "elementwise" and SPECS[op].arity == 1 and not child.ndim:
        name = spelling(op)
        return rule[0], f"∂ {name}(u)/∂u = {name}'(u), the single-variable rule"
    return rule


def chain_rule(n_children: int, shapes: list[tuple]) -> tuple[str, str]:
    """The chain rule combining local derivatives, by the article's names.

    shapes: those of the pieces and of the variable (all scalars: single-variable).
    """
    if n_children > 1:
        return ("total-derivative chain rule",
                "a sum of one chain per piece that depends on the variable")
    if all(len(s) == 0 for s in shapes):
        return "single-variable chain rule", "dy/dx = dy/du du/dx"
    return "vector chain rule", "the Jacobian of a composition is the product of the Jacobians"
