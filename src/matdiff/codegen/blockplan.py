"""Recognising a block-diagonal Jacobian in its IR, and generating code for its factors.

A Jacobian is a sum of products (EINSUM nodes, with sums inside them
distributed when they are themselves tied). Its output labels tell the
structure: in `softmax(X, 2)`'s Jacobian both terms have output labels
(i, j, i, l), the row index of the function tied to the row index of the
variable. When one function axis is tied to one variable axis in every
term, the Jacobian is zero off those "blocks", and it is enough to compute
each product's operands (the factors, here softmax(X, 2) alone) and keep the
products unevaluated (`blocks.BlockDiagonal`): O(n q) for a row-wise map,
against O(n q^2) for the blocks and O(n^2 q^2) dense.

Which Jacobians: any of a function built from element-wise maps and
row-wise (column-wise) maps (softmax, logsoftmax, logsumexp along an axis,
and products with matrices on the other side, `softmax(X*W, 2)`), and their
Hessians when these are block-diagonal too.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import expr as ir
from ..ir.expr import Dim, Expr
from ..ir.ops import Op
from ..ir.union_find import UnionFind
from .blocks import BlockPlan, BlockTerm, find_pairs
from .lower import Lowering

__all__ = ["block_terms", "emit_blocks", "MAX_BLOCK_TERMS"]

MAX_BLOCK_TERMS = 16  # more terms than this after distribution: not worth it, stay dense

# one product: (coefficient, [(operand, labels)], output labels, label -> dim)
Product = tuple[float, list[tuple[Expr, tuple[int, ...]]], tuple[int, ...], dict[int, Dim]]


def _products(e: Expr, budget: list[int]) -> list[Product] | None:
    """e as a sum of products, distributing products over tied sums; None past the budget."""
    if e.op is Op.ADD:
        out: list[Product] = []
        for a in e.args:
            part = _products(a, budget)
            if part is None:
                return None
            out += part
        return out
    if e.op is Op.CONST:
        if e.attr == 0.0:
            return []
        labels = tuple(range(e.ndim))
        return _spend(budget, [(e.attr, [], labels, dict(zip(labels, e.shape)))])
    if e.op is not Op.EINSUM:
        labels = tuple(range(e.ndim))
        return _spend(budget, [(1.0, [(e, labels)], labels, dict(zip(labels, e.shape)))])
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is Op.ADD:
            inner = _products(a, [MAX_BLOCK_TERMS])
            if inner and any(_tied(p[2]) for p in inner):  # a structured sum: distribute
                parts: list[Product] = []
                for term in a.args:
                    args = list(e.args)
                    args[k] = term
                    sub = _products(ir.einsum(args, ins, out, dict(enumerate(dims))), budget)
                    if sub is None:
                        return None
                    parts += sub
                return parts
    coef = 1.0
    factors = []
    for a, lab in zip(e.args, ins):
        if a.op is Op.CONST and a.ndim == 0:
            coef *= a.attr
        else:
            factors.append((a, tuple(lab)))
    return _spend(budget, [(coef, factors, tuple(out), dict(enumerate(dims)))])


def _spend(budget: list[int], products: list[Product]) -> list[Product] | None:
    budget[0] -= len(products)
    return products if budget[0] >= 0 else None


def _tied(out: tuple[int, ...]) -> bool:
    return len(set(out)) < len(out)


def block_terms(root: Expr, split: int) -> tuple[list[Product], tuple[tuple[int, int], ...]] | None:
    """(products, pairs) when root (function axes, then `split:` the variable's) is
    block-diagonal over some pairs of axes but not simply diagonal; else None."""
    if root.ndim < 2 or not 0 < split < root.ndim:
        return None
    products = _products(root, [MAX_BLOCK_TERMS])
    if not products:
        return None
    pairs = find_pairs([p[2] for p in products], split, root.shape)
    if not pairs:
        return None
    if 2 * split == root.ndim and pairs == tuple((a, a + split) for a in range(split)):
        return None  # a diagonal: `Diagonal` holds it as one array
    return products, pairs


def emit_blocks(low: Lowering, products: list[Product], pairs: tuple[tuple[int, int], ...],
                split: int, shape_code: Callable[[tuple[Dim, ...]], str],
                shape: tuple[Dim, ...]) -> tuple[BlockPlan, list[str]]:
    """Lower every product's operands into `low`; (the plan, the code of the values the
    generated function returns: the Jacobian's shape, then each factor once)."""
    low.lower([a for _, factors, _, _ in products for a, _ in factors])
    refs: list[str] = []
    terms: list[BlockTerm] = []
    for product in products:
        coef, arrays, out = _factors(low, product)
        number: dict[int, int] = {}
        for x in out + [x for _, lab in arrays for x in lab]:
            number.setdefault(x, len(number))
        indices = []
        for ref, _ in arrays:
            if ref not in refs:
                refs.append(ref)
            indices.append(refs.index(ref))
        terms.append(BlockTerm(coef, tuple(indices),
                               tuple(tuple(number[x] for x in lab) for _, lab in arrays),
                               tuple(number[x] for x in out), len(number)))
    return BlockPlan(tuple(terms), split, pairs), [shape_code(shape), *refs]


def _factors(low: Lowering, product: Product) -> tuple[float, list[tuple[str, list[int]]],
                                                        list[int]]:
    """(coefficient, [(array code, labels)], output labels) of one lowered product: the
    operands' arrays, with the labels their values' ties unify (as Lowering._einsum)."""
    coef, factors, out, dims = product
    ties = UnionFind(dims)
    find = ties.find
    arrays: list[tuple[str, list[int]]] = []
    for a, lab in factors:
        v = low.memo[a]
        mapped: dict[int, int] = {}
        for p, c in enumerate(v.pattern):  # a tied value ties the labels it sits on
            if c in mapped:
                ties.union(lab[p], mapped[c])
            else:
                mapped[c] = lab[p]
        if not v.real and v.literal is not None:
            coef *= v.literal
            continue
        ref = v.ref
        if v.boolean:
            ref = low.prog.emit("{0} * 1.0", (ref,))
        elif v.param:  # the caller's array: not aliased by the result
            ref = low.prog.emit("{0}.copy()", (ref,))
        arrays.append((ref, [mapped[c] for c in v.real]))
    arrays = [(ref, [find(x) for x in lab]) for ref, lab in arrays]
    out_r = [find(x) for x in out]
    carried = {x for _, lab in arrays for x in lab}
    for x in sorted({find(x) for x in dims} - carried - set(out_r)):
        d = dims[x]  # a sum over a label nothing carries: times its length
        arrays.append((str(d) if isinstance(d, int) else low.dimcode(d), []))
    return coef, arrays, out_r
