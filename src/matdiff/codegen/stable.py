"""Compositions whose plain code loses a finite value, compiled through their stable forms.

    log(softmax(x))  ->  x - logsumexp(x)      softmax underflows to 0 once a gap in x
                                               passes ~708 (~88 in float32): log gives -inf
    log(sigmoid(x))  ->  logsigmoid(x)         sigmoid(-800) is 0: log gives -inf

Each rule is exact in real arithmetic; the right side is finite wherever the
function is. The rewrite runs on the IR the generator compiles (outputs and a
program's lines), so printed derivatives are untouched; the simplifier may
learn the same forms (then there is nothing left here to rewrite). A rule is
an entry of `RULES`: (outer op, inner op) -> the stable form of outer(inner(x)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir import expr as ir
from ..ir.expr import Expr, rebuild, topo_order
from ..ir.ops import Op

__all__ = ["stable_forms", "RULES"]


def _log_softmax(inner: Expr) -> Expr:
    """x - logsumexp(x), the log-sum-exp spread along the softmax's axis."""
    x, axis = inner.args[0], inner.attr
    if axis is None:
        lse = ir.matrix_fn(Op.LOGSUMEXP, x, ())
        spread = ir.einsum([lse], [[]], list(range(x.ndim)), dict(enumerate(x.shape)))
    else:
        lse = ir.matrix_fn(Op.LOGSUMEXP, x, (x.shape[1 - axis],), axis)
        spread = ir.einsum([lse], [[1 - axis]], [0, 1], {0: x.shape[0], 1: x.shape[1]})
    return ir.sub(x, spread)


RULES: dict[tuple[Op, Op], Callable[[Expr], Expr]] = {
    (Op.LOG, Op.SOFTMAX): _log_softmax,
    (Op.LOG, Op.SIGMOID): lambda inner: ir.unary(Op.LOGSIGMOID, inner.args[0]),
}


def stable_forms(roots: list[Expr], names: Sequence[str | None] = ()) -> list[Expr]:
    """The roots with every composition of RULES replaced by its stable form (shared
    subtrees rewritten once; roots without one come back as the same objects).

    `names[k]`, when given, is the variable that later roots use for roots[k] (a
    program's line `s = softmax(z)`): `log(s)` in a later line is log(softmax(z)).
    """
    memo: dict[Expr, Expr] = {}
    defined: dict[Expr, Expr] = {}  # a line's variable -> its (rewritten) expression
    out: list[Expr] = []
    for k, root in enumerate(roots):
        for node in topo_order(root, memo):
            new = rebuild(node, tuple(memo[a] for a in node.args)) if node.args else node
            if len(new.args) == 1:
                inner = defined.get(new.args[0], new.args[0])
                rule = RULES.get((new.op, inner.op)) if inner.args else None
                if rule is not None:
                    new = rule(inner)
            memo[node] = new
        out.append(memo[root])
        if k < len(names) and names[k] is not None:
            defined[ir.var(names[k], root.shape)] = memo[root]
    return out
