"""Canonical keys and sizes of IR nodes, for the simplifier's rules.

Hash-consing makes equal nodes identical, but two products can be equal up
to the order of their factors (`A*x` is x[j] A[i,j] or A[i,j] x[j]) and two
sums up to the order of their terms. `key(e)` is an integer equal for nodes
equal up to those orders, so rules can collect like terms that the
constructors miss. `size(e)` counts nodes as printed (a shared subtree once
per use): the measure a rewrite must not increase. Both are computed
bottom-up over topo_order, without recursion.
"""

from __future__ import annotations

import itertools
import math

from ..ir.expr import Expr, topo_order
from ..ir.ops import Op

__all__ = ["Keys", "size", "relabel"]

_MAX_PERMUTATIONS = 120


def relabel(ins, out) -> tuple:
    """Labels renumbered by first appearance: output first, then operands in order."""
    number: dict = {}
    for x in list(out) + [x for lab in ins for x in lab]:
        number.setdefault(x, len(number))
    return (tuple(tuple(number[x] for x in lab) for lab in ins),
            tuple(number[x] for x in out), number)


class Keys:
    """Canonical integer keys, memoised for the nodes of one simplification."""

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.memo: dict[Expr, int] = {}
        self.sizes: dict[Expr, int] = {}

    def _intern(self, k: tuple) -> int:
        return self.ids.setdefault(k, len(self.ids))

    def key(self, root: Expr) -> int:
        memo = self.memo
        if root in memo:
            return memo[root]
        for node in topo_order(root, memo):
            memo[node] = self._intern(self._local(node))
        return memo[root]

    def size(self, root: Expr) -> int:
        """size(root), memoised like the keys."""
        sizes = self.sizes
        if root in sizes:
            return sizes[root]
        for node in topo_order(root, sizes):
            sizes[node] = _own_size(node) + sum(sizes[a] for a in node.args)
        return sizes[root]

    def _local(self, node: Expr) -> tuple:
        args = [self.memo[a] for a in node.args]
        if node.op is Op.ADD:
            return ("add", tuple(sorted(args)), node.shape)
        if node.op is Op.EINSUM:
            return ("einsum",) + self.einsum_order(node, args)[1:]
        return (node.op.value, node.attr, node.shape, tuple(args))

    def einsum_order(self, node: Expr, args: list[int] | None = None) -> tuple:
        """(operand order, keys, ins, out, dims) of the canonical arrangement of a product."""
        if args is None:
            args = [self.key(a) for a in node.args]
        ins, out, dims = node.attr
        order = sorted(range(len(args)), key=lambda k: args[k])
        groups = [list(g) for _, g in itertools.groupby(order, key=lambda k: args[k])]
        best = None
        count = 0
        total = 1
        for g in groups:
            total *= math.factorial(len(g))
        if total > _MAX_PERMUTATIONS:  # too many equal factors to try: keep their order
            groups = [[k] for g in groups for k in g]
        for choice in itertools.product(*(itertools.permutations(g) for g in groups)):
            perm = [k for g in choice for k in g]
            new_ins, new_out, number = relabel([ins[k] for k in perm], out)
            new_dims = tuple(str(dims[x]) for x in sorted(number, key=number.__getitem__))
            cand = (tuple(perm), tuple(args[k] for k in perm), new_ins, new_out, new_dims)
            if best is None or cand[1:] < best[1:]:
                best = cand
            count += 1
            if count >= _MAX_PERMUTATIONS:
                break
        return best


def _own_size(node: Expr) -> int:
    if node.op is Op.EINSUM:  # each diagonal is written out: diag(x)
        out = node.attr[1]
        return 1 + len(out) - len(set(out))
    return 1


def size(root: Expr) -> int:
    """The number of nodes as printed: a subtree counts once per use."""
    total: dict[Expr, int] = {}
    for node in topo_order(root):
        total[node] = _own_size(node) + sum(total[a] for a in node.args)
    return total[root]
