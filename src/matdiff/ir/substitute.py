"""Replace nodes of an expression and rebuild it through the constructors."""

from __future__ import annotations

from collections.abc import Callable

from .expr import Expr, rebuild, topo_order

__all__ = ["substitute"]


def substitute(root: Expr, mapping: dict[Expr, Expr], memo: dict[Expr, Expr] | None = None,
               args: Callable[[Expr, dict[Expr, Expr]], tuple[Expr, ...]] | None = None
               ) -> Expr:
    """root with every node in `mapping` replaced (usually leaves), rebuilt through the
    constructors so the result is canonical. `memo` (node -> rebuilt node) may be shared
    between calls with the same mapping, so that common subexpressions are rebuilt once.
    `args(node, memo)`, when given, says what a node is rebuilt from (default: its
    arguments' rebuilt nodes)."""
    memo = {} if memo is None else memo
    for node in topo_order(root, memo):
        if node in mapping:
            memo[node] = mapping[node]
        elif not node.args:
            memo[node] = node
        else:
            new = args(node, memo) if args is not None else tuple(memo[a] for a in node.args)
            memo[node] = rebuild(node, new)
    return memo[root]
