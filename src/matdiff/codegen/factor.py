"""A large operand shared by the terms of a sum is factored out: the sum is formed small.

    X - 2*diag(y)*X   ->   diag(1 - 2*y)*X        (n x p sum -> n-vector sum)

The simplifier writes `(1 - 2y) .* (X*w)` as `(X - 2*diag(y)*X)*w`, a sum of
two n x p matrices that the code would build (reading and writing n x p
numbers twice) before a product that wants an n-vector. When every term
that holds the operand X only scales it entry-wise (X carries every axis of
the sum, nothing is contracted), the sum is X times the sum of the scalings,
and those are as small as their own axes: products through it then fuse
(`X*w` is formed, then scaled), and no array as large as X is built.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir.expr import Dim, Expr, add, const, einsum, rebuild, topo_order
from ..ir.ops import Op

__all__ = ["factor_sums"]


def factor_sums(roots: list[Expr], size: Callable[[Dim], int]) -> list[Expr]:
    """The roots with each sum's shared full-size operand factored out where that shrinks it."""
    if not any(n.op is Op.ADD for r in roots for n in topo_order(r)):
        return list(roots)
    memo: dict[Expr, Expr] = {}
    for root in roots:
        for node in topo_order(root, memo):
            new = rebuild(node, tuple(memo[a] for a in node.args))
            if new.op is Op.ADD:
                new = _factor(new, size)
            memo[node] = new
    return [memo[r] for r in roots]


def _scaling(term: Expr, x: Expr) -> tuple[tuple[int, ...], list[Expr], list[list[int]]] | None:
    """(axes of the sum that x's axes fill, other factors, their sum axes) when term is x
    scaled entry-wise (x carries every axis once, nothing is summed), else None."""
    if term == x:
        return tuple(range(x.ndim)), [], []
    if term.op is not Op.EINSUM:
        return None
    ins, out, _ = term.attr
    if len(set(out)) != len(out):
        return None
    at = [k for k, a in enumerate(term.args) if a == x]
    if len(at) != 1 or sorted(ins[at[0]]) != sorted(out) or len(set(ins[at[0]])) != len(out):
        return None
    if any(lab not in out for lab_list in ins for lab in lab_list):
        return None  # a summed label: not an entry-wise scaling
    perm = tuple(out.index(lab) for lab in ins[at[0]])
    others = [a for k, a in enumerate(term.args) if k != at[0]]
    labels = [[out.index(lab) for lab in ins[k]] for k in range(len(term.args)) if k != at[0]]
    return perm, others, labels


def _factor(node: Expr, size: Callable[[Dim], int]) -> Expr:
    shape = node.shape
    full = 1
    for d in shape:
        full *= size(d)
    holders: dict[Expr, list[Expr]] = {}  # operand -> the terms holding it (linear time)
    for t in node.args:
        for a in dict.fromkeys((t,) if t.op is not Op.EINSUM else t.args):
            if a.ndim == node.ndim and a.op is not Op.CONST:
                holders.setdefault(a, []).append(t)
    for x, terms in holders.items():
        if len(terms) < 2:
            continue
        found = [(t, s) for t in terms if (s := _scaling(t, x)) is not None]
        perms = {s[0] for _, s in found}
        if len(found) < 2 or len(perms) != 1:
            continue
        axes = sorted({ax for _, (_, _, labs) in found for lab in labs for ax in lab})
        small = 1
        for ax in axes:
            small *= size(shape[ax])
        if small >= full:
            continue
        sub_shape = tuple(shape[ax] for ax in axes)
        dims = {ax: shape[ax] for ax in axes}
        parts = [einsum(others, labs, axes, dims) if others else const(1.0, sub_shape)
                 for _, (_, others, labs) in found]
        (perm,) = perms
        scaled = einsum([x, add(parts, sub_shape)], [list(perm), axes], list(range(len(shape))),
                        {ax: d for ax, d in enumerate(shape)})
        rest = [t for t in node.args if all(t is not f for f, _ in found)]
        return add([scaled, *rest], shape)
    return node
