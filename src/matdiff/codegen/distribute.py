"""Cost-based distribution: a product of a sum becomes a sum of products when cheaper.

    (U*V' - M)*V  ->  U*(V'*V) - M*V

The left side forms an m x n matrix twice (m n r flops each); the right
side never forms it and, planned by opt_einsum, costs m n r + 2 n r^2.
Whether it pays depends on the dimensions, so the decision is made per
shape signature with the flop counts of the planned contraction paths. A
sum that something else also uses is computed anyway, so it is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Container

import opt_einsum

from ..ir.expr import Dim, Expr, add, einsum, rebuild, topo_order
from ..ir.ops import Op
from .contract import plan_path

__all__ = ["distribute_where_cheaper", "einsum_cost"]

MAX_DISTRIBUTED_TERMS = 8  # a sum with more terms is never distributed
MAX_OPERANDS = 12    # nor a product of more operands (a deep chain rule): pricing each
                     # split replans the whole product, quadratic in depth
GAIN = 0.8           # distribute only when it saves at least a fifth of the flops,
SAME = 1.05          # or, when the sum is larger than the product, costs no more than this


def distribute_where_cheaper(roots: list[Expr], size: Callable[[Dim], int],
               computed: Container[Expr] = ()) -> list[Expr]:
    """The roots with products of exclusively-used sums distributed where that saves flops.

    A sum in `computed` (an earlier line's) exists already: it is never distributed.
    """
    uses: dict[Expr, int] = {}
    order: list[Expr] = []
    seen: set[Expr] = set()
    for root in roots:
        uses[root] = uses.get(root, 0) + 1
        for node in topo_order(root):
            if node not in seen:
                seen.add(node)
                order.append(node)
                for a in node.args:
                    uses[a] = uses.get(a, 0) + 1
    if not any(n.op is Op.EINSUM and any(a.op is Op.ADD for a in n.args) for n in order):
        return list(roots)
    memo: dict[Expr, Expr] = {}
    for node in order:
        args = tuple(memo[a] for a in node.args)
        new = rebuild(node, args)
        if node.op is Op.EINSUM and new.op is Op.EINSUM:
            exclusive = {memo[a] for a in node.args
                         if a.op is Op.ADD and uses[a] == 1 and a not in computed}
            new = _distribute(new, exclusive, size, depth=3)
        memo[node] = new
    return [memo[r] for r in roots]


def _distribute(node: Expr, exclusive: set[Expr], size, depth: int) -> Expr:
    if depth == 0 or node.op is not Op.EINSUM or len(node.args) > MAX_OPERANDS:
        return node
    ins, out, dims = node.attr
    base = einsum_cost(node, size)
    best = None
    for k, a in enumerate(node.args):
        if a not in exclusive or a.op is not Op.ADD or len(a.args) > MAX_DISTRIBUTED_TERMS:
            continue
        terms = [einsum(node.args[:k] + (t,) + node.args[k + 1:], ins, out, dict(enumerate(dims)))
                 for t in a.args]
        keep = base + _own_cost(a, size)
        split = sum(einsum_cost(t, size) if t.op is Op.EINSUM else 0 for t in terms)
        split += _numel(node.shape, size) * (len(terms) - 1)
        kept_inverses, solves = _inverse_costs(node, a, size)
        keep, split = keep + kept_inverses, split + solves
        # a sum larger than the product's result is memory traffic the flop count leaves
        # out (X'*(diag(s)*X - s*(s'*X)) forms two n x p arrays, X'*(diag(s)*X) and
        # (X'*s)*(s'*X) none): distributed at about the same flops
        # Not a sum with a constant term (C*(1 - T) split is a reduction of C, a pass over
        # C that the kept form, or C's gather when C is one-hot, never makes), nor a full
        # contraction (sum(Y .* (Z - r*1')) reads the sum once; split, it reads Y twice)
        larger = (_numel(a.shape, size) > _numel(node.shape, size) and node.ndim > 0
                  and not any(t.op is Op.CONST for t in a.args))
        if (split < GAIN * keep or (larger and split <= SAME * keep)) and (
                best is None or keep - split > best[0]):
            best = (keep - split, terms)
    if best is None:
        return node
    terms = [_distribute(t, exclusive, size, depth - 1) for t in best[1]]
    return add(terms, node.shape)


def _inverse_of(t: Expr) -> Expr | None:
    """The inverse a term of a sum is, transposed or scaled (inv(A), inv(A)', 2*inv(A))."""
    if t.op is Op.INV:
        return t
    if t.op is Op.EINSUM:
        factors = [x for x in t.args if x.op is not Op.CONST]
        if len(factors) == 1 and factors[0].op is Op.INV:
            return factors[0]
    return None


def _inverse_costs(node: Expr, a: Expr, size) -> tuple[int, int]:
    """(kept, split): the flops of the inverses among the sum a's terms. Kept, each is
    formed (LU and inversion, about 2 n^3); distributed over a thin product (a vector
    out, or at most n/8 columns), each term's inverse is a solve (solves.py: an LU, about
    2 n^3 / 3): `(inv(A) + inv(A)')*x` is two solves, not an inverse (2.2x at n = 1000)."""
    inverses = [inv for t in a.args if (inv := _inverse_of(t)) is not None]
    if not inverses:
        return 0, 0
    n = max(size(inv.shape[0]) for inv in inverses)
    out = _numel(node.shape, size)
    if out > n and 8 * out > n * n:  # as solves.py: a vector, or at most n/8 columns
        return 0, 0
    kept = sum(2 * size(inv.shape[0]) ** 3 for inv in set(inverses))
    return kept, sum(2 * size(inv.shape[0]) ** 3 // 3 for inv in inverses)


def _own_cost(a: Expr, size) -> int:
    """Flops to form the sum `a` from its terms, counting term products it alone uses."""
    total = _numel(a.shape, size) * (len(a.args) - 1)
    for t in a.args:
        if t.op is Op.EINSUM:
            total += einsum_cost(t, size)
    return total


def _numel(shape, size) -> int:
    n = 1
    for d in shape:
        n *= size(d)
    return n


def einsum_cost(node: Expr, size: Callable[[Dim], int]) -> int:
    """The flop count of the best contraction path of a product (diagonals as vectors)."""
    ins, out, dims = node.attr
    operands = [(a, list(dict.fromkeys(lab))) for a, lab in zip(node.args, ins)
                if a.op is not Op.CONST and lab]
    if not operands:
        return _numel(node.shape, size)
    carried = {x for _, lab in operands for x in lab}
    out_l = [x for x in dict.fromkeys(out) if x in carried]
    sym = {x: opt_einsum.get_symbol(x) for x in carried}
    eq = ",".join("".join(sym[x] for x in lab) for _, lab in operands)
    eq += "->" + "".join(sym[x] for x in out_l)
    shapes = [tuple(size(dims[x]) for x in lab) for _, lab in operands]
    if len(operands) == 1:
        return _numel(shapes[0], lambda d: d)
    return plan_path(eq, tuple(shapes))[1]
