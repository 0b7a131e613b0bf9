"""A sum that is another sum negated is computed as that sum's negation.

    Y - S   and   S - Y      ->   t = S - Y, then -t

Derivatives meet both signs of one quantity: the chain rule through a
softmax writes `(S - Y)*W'` in one term and `(Y - S)*W'` in another, and
every product above them then differs by a sign only. Common-subexpression
elimination sees different nodes, so the code would compute each twice (the
matrix products included). Sums are taken bottom-up; one whose negation
(every term's coefficient negated) was met already becomes -1 times it, and
the products above it fuse the sign into their constant, so that they too
are found equal (or negated) to ones met before.
"""

from __future__ import annotations

from ..ir.expr import Expr, add, neg, rebuild, scale, split_coefficient, topo_order
from ..ir.ops import Op

__all__ = ["share_negated_sums"]


def share_negated_sums(roots: list[Expr]) -> list[Expr]:
    """The roots with each sum that negates an earlier sum written as its negation."""
    if not any(n.op is Op.ADD for r in roots for n in topo_order(r)):
        return list(roots)
    memo: dict[Expr, Expr] = {}
    sums: set[Expr] = set()
    for root in roots:
        for node in topo_order(root, memo):
            new = rebuild(node, tuple(memo[a] for a in node.args))
            if new.op is Op.ADD:
                negated = _negated(new)
                if negated in sums and negated != new:
                    new = neg(negated)
                else:
                    sums.add(new)
            memo[node] = new
    return [memo[r] for r in roots]


def _negated(e: Expr) -> Expr:
    """e with every term's coefficient negated (the canonical form of -e as a sum)."""
    terms = []
    for t in e.args:
        c, core = split_coefficient(t)
        terms.append(scale(core, -c))
    return add(terms, e.shape)
